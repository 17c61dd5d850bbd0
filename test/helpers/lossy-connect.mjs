// argv[2] pairs of werift peers (default 10) connecting at the same time on loopback, run inside a
// network namespace whose loopback the test impairs with nftables BEFORE this starts. Each pair must,
// within argv[3] ms (default 40000) of its start: connect (ICE, DTLS, SCTP), open both data channels,
// and carry one message each way on the reliable channel. One JSON line per pair:
// {"attempt":i,"ok":true,"connectedMs","openMs","echoMs"} or {"attempt":i,"ok":false,"error"},
// then {"done":{"ok":n,"of":n}}.
import { connectPair } from '../../dist/core/rtc/pair.js';

const pairs = Number(process.argv[2] ?? 10);
const deadlineMs = Number(process.argv[3] ?? 40_000);

async function attempt(i) {
  const t0 = performance.now();
  const left = () => ({ timeoutMs: Math.max(1, deadlineMs - (performance.now() - t0)) });
  const ms = () => Math.round(performance.now() - t0);
  const r = { attempt: i, ok: false };
  let pair;
  try {
    pair = await connectPair({ iceServers: [], loopback: true }, { iceServers: [], loopback: true }, left());
    r.connectedMs = ms();
    const [a, b] = await Promise.all([pair.offerer.dataChannels(left()), pair.answerer.dataChannels(left())]);
    r.openMs = ms();
    const arrives = (pipe) => new Promise((resolve) => pipe.onMessage(() => resolve()));
    const both = Promise.all([arrives(b.reliable), arrives(a.reliable)]);
    a.reliable.send(Buffer.from('offerer'));
    b.reliable.send(Buffer.from('answerer'));
    let timer;
    const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no message each way within ${deadlineMs} ms`)), left().timeoutMs)));
    await Promise.race([both, late]).finally(() => clearTimeout(timer));
    r.echoMs = ms();
    r.ok = true;
  } catch (err) {
    r.error = String(err?.message ?? err);
  }
  console.log(JSON.stringify(r));
  await pair?.close();
  return r;
}

const results = await Promise.all(Array.from({ length: pairs }, (_, i) => attempt(i)));
console.log(JSON.stringify({ done: { ok: results.filter((r) => r.ok).length, of: pairs } }));
process.exit(0);
