// Bad input to the SFU from an authenticated werift participant: malformed
// RTP and RTCP, an unknown payload type, an unannounced SSRC, far over the
// rate. Each is counted and dropped; the others keep their traffic.
import { describe, expect, it } from 'vitest';
import { GenericNack, PictureLossIndication, RtcpPayloadSpecificFeedback, RtcpSrPacket, RtcpTransportLayerFeedback, RtpHeader, type RtcpPacket } from 'werift';
import { SignalRelay } from '../../src/core/signaling/server.js';
import { SignalClient } from '../../src/core/signaling/client.js';
import { MeshPeer } from '../../src/core/rtc/mesh.js';
import { RtcPeer } from '../../src/core/rtc/peer.js';
import { SfuServer } from '../../src/core/rtc/sfu-server.js';
import { teardownAfterEach } from '../helpers/teardown.js';
import { until } from '../helpers/signal.js';

const stops = teardownAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Dtls {
  onRtcp: { subscribe(cb: (p: RtcpPacket) => void): unknown };
  sendRtp(payload: Buffer, header: RtpHeader): Promise<number>;
  sendRtcp(packets: { serialize(): Buffer }[]): Promise<void>;
}

async function setup() {
    const ac = new AbortController();
    stops.push(async () => ac.abort());
    const relay = new SignalRelay({ host: '127.0.0.1', port: 0, limits: { messagesPerSecond: 10_000, messageBurst: 10_000 } });
    const addr = await relay.listen();
    stops.push(() => relay.close('test over'));
    // 200 kB/s per participant: the clients' 300 kbit/s video and audio fit, the flood does not.
    const server = new SfuServer({ url: addr.ws, rooms: ['r'], peerId: 'sfu', iceServers: [], loopback: true, timeoutMs: 20_000, signal: ac.signal, maxBytesPerSecond: 200_000 });
    stops.push(() => server.stop());
    await server.start();
    const clients = ['a', 'b'].map((id) => {
      const p = new MeshPeer({ url: addr.ws, room: 'r', peerId: id, iceServers: [], loopback: true, traffic: { channels: ['audio', 'video'], videoKbps: 300 }, timeoutMs: 20_000, signal: ac.signal });
      stops.push(() => p.stop());
      return p;
    });
    for (const p of clients) await p.start();

    // The misbehaving participant: a plain werift peer that offers to the server itself.
    const x = new RtcPeer({ iceServers: [], loopback: true, audio: 'pcmu', video: true });
    stops.push(() => x.close());
    const sig = new SignalClient({ url: addr.ws, room: 'r', peerId: 'x', reconnect: false, timeoutMs: 5000, signal: ac.signal });
    stops.push(() => sig.close());
    await sig.connect();
    const answered = new Promise<string>((resolve) => sig.on('signal', ({ data }) => resolve((data as { sdp: string }).sdp)));
    const offer = await x.offer({ timeoutMs: 10_000, signal: ac.signal });
    sig.signal('sfu', { rtcprobe: 'sdp', type: 'offer', sdp: offer.sdp });
    await x.accept({ type: 'answer', sdp: await answered });
    await x.connected({ timeoutMs: 20_000, signal: ac.signal });
    await until(() => server.participants().filter((p) => p.state === 'up').length === 3, 30_000, 'all three up');
  return { server, clients, x, ac };
}

describe('sfu: bad input', () => {
  it('counts and drops malformed RTP/RTCP, unknown PT and SSRC, over-rate traffic; the others are unaffected', async () => {
    const { server, clients, x } = await setup();
    const dtls = (x.pc as unknown as { dtlsTransports: Dtls[] }).dtlsTransports[0]!;
    const audioSsrc = x.pc.getTransceivers().find((t) => t.kind === 'audio')!.sender.ssrc;

    for (const p of clients) p.startWindow();
    const before = server.participants().filter((p) => p.participant !== 'x').map((p) => ({ id: p.participant, out: p.rtpOut.packets }));
    const payload = Buffer.alloc(160, 1);
    for (let i = 0; i < 5; i++) await dtls.sendRtp(payload, new RtpHeader({ version: 1, ssrc: audioSsrc, payloadType: 0, sequenceNumber: i }));
    for (let i = 0; i < 5; i++) await dtls.sendRtp(payload, new RtpHeader({ ssrc: audioSsrc, payloadType: 77, sequenceNumber: 100 + i }));
    for (let i = 0; i < 5; i++) await dtls.sendRtp(payload, new RtpHeader({ ssrc: 0x1234567, payloadType: 0, sequenceNumber: 200 + i }));
    // RTCP: a receiver report whose length field points past the end.
    const badRr = Buffer.from([0x80, 201, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0]);
    for (let i = 0; i < 3; i++) await dtls.sendRtcp([{ serialize: () => badRr }]);
    // Far over the rate: 2 MB/s (bursts of 20 kB every 10 ms) for half a second, ten times the limit.
    const big = Buffer.alloc(1000, 2);
    for (let burst = 0; burst < 50; burst++) {
      for (let i = 0; i < 20; i++) void dtls.sendRtp(big, new RtpHeader({ ssrc: audioSsrc, payloadType: 0, sequenceNumber: (300 + burst * 20 + i) & 0xffff }));
      await sleep(10);
    }
    await until(() => {
      const d = server.drops();
      return d.malformed_rtp === 5 && d.unknown_pt === 5 && d.unknown_ssrc === 5 && d.malformed_rtcp === 3 && (d.over_rate ?? 0) > 100;
    }, 30_000, 'drops counted');
    const xs = server.participants().find((p) => p.participant === 'x')!;
    expect(xs.drops).toMatchObject({ malformed_rtp: 5, unknown_pt: 5, unknown_ssrc: 5, malformed_rtcp: 3 });
    // 1 MB in half a second against 200 kB/s and a 100 kB burst: most of what arrives is dropped
    // (loopback may lose some of the flood before the server reads it), what fits the bucket goes through.
    expect(xs.drops.over_rate!).toBeGreaterThan(100);
    expect(xs.drops.over_rate!).toBeLessThan(1000);
    await sleep(1500);
    // The server is still up, and a and b still get each other's media without loss.
    expect(server.participants().filter((p) => p.state === 'up').length).toBe(3);
    for (const p of clients) {
      const [c] = await p.connections();
      expect(c!.state).toBe('up');
      expect(c!.audio!.stream.received).toBeGreaterThan(40);
      expect(c!.video!.stream.lossRatio).toBeLessThan(0.05);
    }
    for (const b of before) {
      const now = server.participants().find((p) => p.participant === b.id)!;
      expect(now.rtpOut.packets - b.out).toBeGreaterThan(100);
      expect(now.drops).toEqual({});
    }
  }, 120_000);

  it('forwards sender reports to subscribers, NACK and PLI to the publisher with its SSRC', async () => {
    const { server, clients, x } = await setup();
    const dtls = (x.pc as unknown as { dtlsTransports: Dtls[] }).dtlsTransports[0]!;
    // a's video sender, inside its connection to the server.
    const aConn = (clients[0] as unknown as { conns: Map<string, { rtc: RtcPeer }> }).conns.get('sfu')!;
    const aVideo = aConn.rtc.pc.getTransceivers().find((t) => t.kind === 'video')!.sender as unknown as { ssrc: number; pliCount: number; nackCount: number };
    const aAudio = aConn.rtc.pc.getTransceivers().find((t) => t.kind === 'audio')!.sender;
    // x sees a's SSRCs unchanged (no collision here), and gets a's sender reports for them.
    const srs = new Set<number>();
    dtls.onRtcp.subscribe((p) => {
      if (p instanceof RtcpSrPacket) srs.add(p.ssrc);
    });
    await until(() => srs.has(aVideo.ssrc) && srs.has(aAudio.ssrc), 30_000, 'sender reports of a');
    const pli0 = aVideo.pliCount;
    const nack0 = aVideo.nackCount;
    await dtls.sendRtcp([new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc: aVideo.ssrc }) })]);
    await dtls.sendRtcp([new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: aVideo.ssrc, lost: [1, 2] }) })]);
    await until(() => aVideo.pliCount > pli0 && aVideo.nackCount > nack0, 30_000, 'PLI and NACK at a');
    expect(server.rtcp()).toMatchObject({ pli: 1, nack: 1 });
    expect(server.rtcp().sr).toBeGreaterThan(0);
  }, 120_000);
});
