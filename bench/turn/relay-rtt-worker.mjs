#!/usr/bin/env node
// One relayed WebRTC call for bench/turn/relay-rtt.mjs: two relay-only werift peers in this
// process through one TURN URL, a reliable data channel, COUNT sequential probes (ping-pong);
// prints one JSON line: the RTT of every probe (ms), the call's set-up time (ms from the offer to
// both data channels open), the transport werift used, and how many
// of werift's TURN sockets (TCP/TLS) had Nagle's algorithm switched off.
//   node relay-rtt-worker.mjs <turn-url> <user> <password> <count> <as-is|nagle> [ca.pem]
// nagle: setNoDelay() calls are not passed on, as in werift 0.24.4 without the carried patch
// 007 (turn-tcp-nodelay): the TURN sockets keep Node's default, Nagle's algorithm on.
import net from 'node:net';
import { readFileSync } from 'node:fs';

const [url, user, password, countText, mode, caFile] = process.argv.slice(2);
if (mode !== 'as-is' && mode !== 'nagle') throw new Error(`mode must be as-is or nagle, not ${mode}`);

// Before werift is loaded: which sockets got TCP_NODELAY (the figure says which variant ran).
const noDelay = new WeakSet();
const origSetNoDelay = net.Socket.prototype.setNoDelay;
net.Socket.prototype.setNoDelay = function (enable) {
  if (mode === 'nagle') return this;
  if (enable === undefined || enable) noDelay.add(this);
  else noDelay.delete(this);
  return origSetNoDelay.call(this, enable);
};
const { RtcPeer } = await import('../../dist/core/rtc/peer.js');
const { runProbes, startEcho } = await import('../../dist/core/rtc/channel.js');
const { turnTransportsInUse } = await import('../../dist/core/rtc/relay-e2e.js');

const options = {
  iceServers: [{ urls: [url], username: user, credential: password }],
  relayOnly: true,
  ...(caFile ? { turnTls: { ca: readFileSync(caFile, 'utf8') } } : {}),
};
const w = { timeoutMs: 20_000 };
const a = new RtcPeer(options);
const b = new RtcPeer(options);
let out;
try {
  const t0 = performance.now();
  await a.accept(await b.answer(await a.offer(w), w));
  await Promise.all([a.connected(w), b.connected(w)]);
  const [ca, cb] = await Promise.all([a.dataChannels(w), b.dataChannels(w)]);
  const setupMs = performance.now() - t0;
  const sockets = [];
  for (const pc of [a.pc, b.pc]) {
    for (const t of pc.iceTransports) {
      for (const p of t.connection.protocols ?? []) {
        const s = p.turn?.transport?.stream?.client;
        if (s) sockets.push(s);
      }
    }
  }
  const stop = startEcho(cb.reliable);
  const r = await runProbes(ca.reliable, { count: Number(countText), sequential: true, timeoutMs: 60_000 });
  stop();
  out = {
    transports: [...new Set([...turnTransportsInUse(a.pc), ...turnTransportsInUse(b.pc)])],
    setupMs: Math.round(setupMs * 10) / 10,
    sent: r.sent,
    rttMs: r.rttMs.map((x) => Math.round(x * 1000) / 1000),
    streamSockets: sockets.length,
    noDelaySockets: sockets.filter((s) => noDelay.has(s)).length,
  };
} catch (err) {
  out = { error: String(err?.message ?? err) };
} finally {
  await Promise.all([a.close(), b.close()]);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
