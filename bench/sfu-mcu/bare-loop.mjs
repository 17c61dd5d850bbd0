// The baseline of the SFU capacity figure: a bare werift receive-and-send
// loop. It joins a relay room as role "sfu" (so rtcprobe clients offer to
// it), answers with werift directly, and sends every RTP packet it receives
// to every other participant's transport as it came (no router, no checks,
// no payload-type rewrite, no metrics, no data-channel forwarding).
// Prints {"forwarded": n} every 250 ms on stdout. Stops on SIGTERM.
// Usage: node bare-loop.mjs <ws url> <room>
import { RTCPeerConnection } from 'werift';
import { SignalClient } from '../../dist/core/signaling/client.js';
import { weriftConfig, withoutDefaultStun } from '../../dist/core/rtc/config.js';
import { growReceiveBuffers } from '../../dist/core/rtc/sockets.js';

const [url, room] = process.argv.slice(2);
const people = new Map();
let forwarded = 0;
const client = new SignalClient({ url, room, peerId: 'zz-bare', meta: { role: 'sfu' }, reconnect: false, timeoutMs: 10_000 });

client.on('signal', async ({ from, data }) => {
  if (data?.rtcprobe !== 'sdp' || data.type !== 'offer') return;
  const pc = withoutDefaultStun(new RTCPeerConnection(weriftConfig({ iceServers: [], loopback: true, audio: 'pcmu', video: true })));
  const me = { pc, dtls: undefined };
  people.set(from, me);
  await pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
  for (const t of pc.getTransceivers()) t.setDirection('sendrecv');
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r();
    pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && r());
  });
  // The same receive buffers as the SFU asks for (fair comparison).
  growReceiveBuffers(pc);
  client.signal(from, { rtcprobe: 'sdp', type: 'answer', sdp: pc.localDescription.sdp });
  await new Promise((r) => {
    if (pc.connectionState === 'connected') r();
    pc.connectionStateChange.subscribe((s) => s === 'connected' && r());
  });
  const dtls = pc.dtlsTransports[0];
  me.dtls = dtls;
  dtls.onRtp.subscribe((rtp) => {
    for (const other of people.values()) {
      if (other === me || !other.dtls) continue;
      void other.dtls.sendRtp(rtp.payload, rtp.header);
      forwarded++;
    }
  });
});
client.on('peer-left', (p) => {
  const x = people.get(p.peerId);
  people.delete(p.peerId);
  void x?.pc.close();
});

await client.connect();
process.stdout.write(`${JSON.stringify({ event: 'listening' })}\n`);
const timer = setInterval(() => process.stdout.write(`${JSON.stringify({ forwarded })}\n`), 250);
process.on('SIGTERM', async () => {
  clearInterval(timer);
  process.stdout.write(`${JSON.stringify({ forwarded })}\n`);
  await Promise.allSettled([...people.values()].map((p) => p.pc.close()));
  await client.close();
  process.exit(0);
});
