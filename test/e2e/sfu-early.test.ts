// Data-channel messages around a participant's arrival: those a newcomer
// sends the moment its channel opens reach the others, and those the others
// send before the newcomer's channels are open at the server are held for it
// and delivered, not dropped.
import { describe, expect, it } from 'vitest';
import type { RTCDataChannel } from 'werift';
import { SignalRelay } from '../../src/core/signaling/server.js';
import { SignalClient } from '../../src/core/signaling/client.js';
import { RtcPeer } from '../../src/core/rtc/peer.js';
import { SfuServer } from '../../src/core/rtc/sfu-server.js';
import { RELIABLE_LABEL } from '../../src/core/rtc/config.js';
import { teardownAfterEach } from '../helpers/teardown.js';
import { until } from '../helpers/signal.js';

const stops = teardownAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A plain werift client of the server; `onReliable` sees its reliable channel as soon as it is created. */
async function client(url: string, id: string, signal: AbortSignal, onReliable: (dc: RTCDataChannel) => void, onAnswer = () => {}): Promise<RtcPeer> {
  const x = new RtcPeer({ iceServers: [], loopback: true });
  stops.push(() => x.close());
  const sig = new SignalClient({ url, room: 'r', peerId: id, reconnect: false, timeoutMs: 5000, signal });
  stops.push(() => sig.close());
  await sig.connect();
  const answered = new Promise<string>((resolve) => sig.on('signal', ({ data }) => resolve((data as { sdp: string }).sdp)));
  const offer = await x.offer({ timeoutMs: 10_000, signal });
  onReliable((x as unknown as { channels: Map<string, RTCDataChannel> }).channels.get(RELIABLE_LABEL)!);
  sig.signal('sfu', { rtcprobe: 'sdp', type: 'offer', sdp: offer.sdp });
  const sdp = await answered;
  onAnswer();
  await x.accept({ type: 'answer', sdp });
  return x;
}

async function setup(extra: { earlyQueueMessages?: number } = {}) {
  const ac = new AbortController();
  stops.push(async () => ac.abort());
  const relay = new SignalRelay({ host: '127.0.0.1', port: 0, limits: { messagesPerSecond: 10_000, messageBurst: 10_000 } });
  const addr = await relay.listen();
  stops.push(() => relay.close('test over'));
  const server = new SfuServer({ url: addr.ws, rooms: ['r'], peerId: 'sfu', iceServers: [], loopback: true, timeoutMs: 20_000, signal: ac.signal, ...extra });
  stops.push(() => server.stop());
  await server.start();
  return { ac, addr, server };
}

describe('sfu: data-channel messages around a join', () => {
  it('forwards what a newcomer sends at once, and holds for it what others sent before its channels were open', async () => {
    const { ac, addr, server } = await setup();
    const N = 50;
    const atA: string[] = [];
    const atB: string[] = [];
    let aDc: RTCDataChannel | undefined;
    const a = await client(addr.ws, 'a', ac.signal, (dc) => {
      aDc = dc;
      dc.onMessage.subscribe((m) => atA.push(String(m)));
    });
    await a.dataChannels({ timeoutMs: 20_000, signal: ac.signal });
    await until(() => server.participants().some((p) => p.participant === 'a' && p.state === 'up'), 30_000, 'a up at the server');
    await client(
      addr.ws, 'b', ac.signal,
      (dc) => {
        dc.onMessage.subscribe((m) => atB.push(String(m)));
        // b sends the moment its channel opens, before the server has b's other channel open.
        dc.stateChanged.subscribe((st) => {
          if (st === 'open') for (let i = 0; i < N; i++) dc.send(`from-b ${i}`);
        });
      },
      // a sends when b has the server's answer: b is a participant, but no channel of b's is open before ICE, DTLS and SCTP.
      () => {
        for (let i = 0; i < N; i++) aDc!.send(`from-a ${i}`);
      },
    );
    await until(() => atA.length >= N && atB.length >= N, 20_000, 'messages delivered both ways').catch(() => {});
    expect(atA.filter((m) => m.startsWith('from-b')).length).toBe(N);
    expect(atB.filter((m) => m.startsWith('from-a')).length).toBe(N);
    // In order, on the reliable channel.
    expect(atB).toEqual(Array.from({ length: N }, (_, i) => `from-a ${i}`));
    expect(server.drops()).toEqual({});
  }, 90_000);

  it('holds at most the bound for a channel not open yet, and counts the rest as not_open_overflow', async () => {
    const { ac, addr, server } = await setup({ earlyQueueMessages: 10 });
    const N = 50;
    const atB: string[] = [];
    let aDc: RTCDataChannel | undefined;
    const a = await client(addr.ws, 'a', ac.signal, (dc) => {
      aDc = dc;
    });
    await a.dataChannels({ timeoutMs: 20_000, signal: ac.signal });
    await until(() => server.participants().some((p) => p.participant === 'a' && p.state === 'up'), 30_000, 'a up at the server');
    await client(
      addr.ws, 'b', ac.signal,
      (dc) => {
        dc.onMessage.subscribe((m) => atB.push(String(m)));
      },
      () => {
        for (let i = 0; i < N; i++) aDc!.send(`from-a ${i}`);
      },
    );
    await until(() => (server.participants().find((p) => p.participant === 'a')?.dcIn.messages ?? 0) >= N, 30_000, 'a\'s messages counted at the server');
    await until(() => server.participants().some((p) => p.participant === 'b' && p.state === 'up'), 30_000, 'b up at the server');
    await until(() => atB.length >= 10, 30_000, 'the held messages delivered');
    // All 50 arrived before b's channel opened: the first 10 held and delivered, the other 40 counted.
    const dropped = server.drops().not_open_overflow ?? 0;
    expect(dropped).toBe(N - 10);
    await sleep(300); // nothing more is coming
    expect(atB.length).toBe(10);
    expect(atB.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `from-a ${i}`));
    expect(server.participants().find((p) => p.participant === 'b')!.drops).toEqual({ not_open_overflow: dropped });
  }, 90_000);
});
