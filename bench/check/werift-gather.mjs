// werift's own gathering, as an app would get it: one RTCPeerConnection with the
// configuration, a data channel, an offer; times of the first and last icecandidate
// event and of gathering complete, ms from setLocalDescription. Prints one JSON line.
//   node werift-gather.mjs <iceServers JSON file> <timeoutMs> [interfaces]
// (host candidates on 127.0.0.1 only, or with `interfaces` on every interface, as in the NAT lab)
import { readFileSync } from 'node:fs';
import { RTCPeerConnection } from 'werift';

const [file, timeout = '10000', hosts = 'loopback'] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(file, 'utf8'));
const iceServers = (doc.iceServers ?? doc).map((s) => ({ ...s, urls: Array.isArray(s.urls) ? s.urls : [s.urls] }));
// werift takes one STUN and one TURN server, from the first URL of each kind.
const flat = iceServers.flatMap((s) => s.urls.map((u) => ({ urls: u, ...(s.username ? { username: s.username, credential: s.credential } : {}) })));
const pc = new RTCPeerConnection(hosts === 'interfaces'
  ? { iceServers: flat, iceUseIpv4: true, iceUseIpv6: false }
  : { iceServers: flat, iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'] });
const times = [];
let t0 = 0;
const done = new Promise((resolve) => {
  pc.onIceCandidate.subscribe((c) => {
    if (c) times.push({ ms: performance.now() - t0, type: / typ (\w+)/.exec(c.candidate ?? '')?.[1] });
  });
  pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') resolve(performance.now() - t0); });
  setTimeout(() => resolve(NaN), Number(timeout)).unref();
});
pc.createDataChannel('probe');
const offer = await pc.createOffer();
t0 = performance.now();
await pc.setLocalDescription(offer);
const completeMs = await done;
process.stdout.write(JSON.stringify({ count: times.length, types: times.map((t) => t.type), firstMs: times[0]?.ms ?? null, lastMs: times.at(-1)?.ms ?? null, completeMs: Number.isFinite(completeMs) ? completeMs : null }) + '\n');
await pc.close();
process.exit(0);
