// Two werift peers on loopback (run inside a network namespace whose loopback the test
// impairs with nftables). Connects, prints {"up":...} with the data channels' reliability
// parameters as each side sees them, then waits for a line on stdin (the test installs the
// drop rule in between). Then the offerer sends argv[2] messages (default 1000) on each
// channel, one per argv[3] ms (default 5), the answerer counts the distinct ones it receives,
// and the script prints {"done":...} once every reliable message arrived, or argv[4] ms
// (default 30000) after the last send. Unreliable messages still missing 3 s after the last
// send are counted as lost.
import { createInterface } from 'node:readline';
import { connectPair } from '../../dist/core/rtc/pair.js';
import { RELIABLE_LABEL, UNRELIABLE_LABEL } from '../../dist/core/rtc/config.js';

const count = Number(process.argv[2] ?? 1000);
const gapMs = Number(process.argv[3] ?? 5);
const settleMs = Number(process.argv[4] ?? 30_000);
const W = { timeoutMs: 20_000 };
const pair = await connectPair({ iceServers: [], loopback: true }, { iceServers: [], loopback: true }, W);
const a = await pair.offerer.dataChannels(W);
const b = await pair.answerer.dataChannels(W);
// The werift channels behind the pipes (RtcPeer keeps them by label).
const raw = (peer, label) => {
  const dc = peer.channels.get(label);
  return { ordered: dc.ordered, maxRetransmits: dc.maxRetransmits, maxPacketLifeTime: dc.maxPacketLifeTime };
};
console.log(JSON.stringify({
  up: {
    offerer: { reliable: raw(pair.offerer, RELIABLE_LABEL), unreliable: raw(pair.offerer, UNRELIABLE_LABEL) },
    answerer: { reliable: raw(pair.answerer, RELIABLE_LABEL), unreliable: raw(pair.answerer, UNRELIABLE_LABEL) },
  },
}));
const rl = createInterface({ input: process.stdin });
await new Promise((resolve) => rl.once('line', resolve));
rl.close();

const got = { reliable: new Set(), unreliable: new Set() };
let lastArrivalMs = { reliable: 0, unreliable: 0 };
const t0 = performance.now();
let allReliable;
const reliableDone = new Promise((resolve) => (allReliable = resolve));
for (const [name, pipe] of [['reliable', b.reliable], ['unreliable', b.unreliable]]) {
  pipe.onMessage((d) => {
    got[name].add(d.readUInt32BE(0));
    lastArrivalMs[name] = performance.now() - t0;
    if (name === 'reliable' && got.reliable.size === count) allReliable();
  });
}
for (let i = 0; i < count; i++) {
  const m = Buffer.alloc(100);
  m.writeUInt32BE(i, 0);
  a.reliable.send(m);
  a.unreliable.send(Buffer.from(m));
  await new Promise((r) => setTimeout(r, gapMs));
}
const sentMs = performance.now() - t0;
let timer;
await Promise.all([
  Promise.race([reliableDone, new Promise((r) => (timer = setTimeout(r, settleMs)))]),
  new Promise((r) => setTimeout(r, 3000)),
]);
clearTimeout(timer);
const missing = [...Array(count).keys()].filter((i) => !got.reliable.has(i));
console.log(JSON.stringify({
  done: {
    count,
    sentMs: Math.round(sentMs),
    reliable: { received: got.reliable.size, missing: missing.slice(0, 20), lastArrivalMs: Math.round(lastArrivalMs.reliable), bufferedAmount: a.reliable.bufferedAmount },
    unreliable: { received: got.unreliable.size, lastArrivalMs: Math.round(lastArrivalMs.unreliable), bufferedAmount: a.unreliable.bufferedAmount },
  },
}));
await pair.close();
