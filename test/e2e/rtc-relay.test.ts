/**
 * Two relay-only peers through a real TURN server (coturn on loopback):
 * only relay candidates are signalled, the selected pair is relay/relay,
 * and data and RTP flow through the relay.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { describeWith } from '../helpers/system.js';
import { connectPair, type PeerPair } from '../../src/core/rtc/pair.js';
import { runProbes, startEcho } from '../../src/core/rtc/channel.js';
import { sdpCandidateTypes, toRtcIceServers } from '../../src/core/rtc/ice.js';
import { ReceiveTracker } from '../../src/core/bench/tracker.js';

const USER = 'rtcpeer';
const PASSWORD = 'relay-only-secret';
const W = { timeoutMs: 20_000 };

describeWith({ commands: ['turnserver'] }, 'relay-only peers through coturn', () => {
  let turn: Coturn;
  let pair: PeerPair | undefined;

  beforeAll(async () => {
    // The relay address is 127.0.0.1, so coturn must allow loopback peers.
    turn = await startCoturn({ users: [{ user: USER, password: PASSWORD }], realm: 'rtc.test', args: ['--allow-loopback-peers'] });
  });

  afterAll(async () => {
    await pair?.close();
    await turn?.stop();
  });

  it('connects relay to relay and carries data and audio', async () => {
    const iceServers = toRtcIceServers([{ urls: [`turn:127.0.0.1:${turn.port}?transport=udp`], username: USER, credential: PASSWORD }]);
    pair = await connectPair({ iceServers, relayOnly: true, audio: 'pcmu' }, { iceServers, relayOnly: true }, W);
    // werift 0.24 gathers no host candidate under the relay policy when a TURN server is configured;
    // the filter still guarantees that whatever it gathers, only relay candidates leave.
    expect(sdpCandidateTypes(pair.offerer.sentDescription!.sdp)).toEqual(['relay']);
    expect(sdpCandidateTypes(pair.answerer.sentDescription!.sdp)).toEqual(['relay']);
    const sel = await pair.offerer.selectedPair();
    expect(sel?.local.type).toBe('relay');
    expect(sel?.remote.type).toBe('relay');
    expect(sel?.remote.port).toBeGreaterThanOrEqual(turn.relayMin);
    expect(sel?.remote.port).toBeLessThanOrEqual(turn.relayMax);

    const a = await pair.offerer.dataChannels(W);
    const b = await pair.answerer.dataChannels(W);
    const stop = startEcho(b.reliable);
    const r = await runProbes(a.reliable, { count: 50, sequential: true, timeoutMs: 10_000 });
    stop();
    expect(r.received).toBe(50);

    const tracker = new ReceiveTracker({ clockRate: 8000 });
    let n = 0;
    let all!: () => void;
    const got25 = new Promise<void>((res) => (all = res));
    const off = pair.answerer.onRtp((p) => {
      tracker.add({ seq: p.seq, arrivalMs: p.arrivalUs / 1000, rtpTimestamp: p.timestamp });
      if (++n === 25) all();
    });
    await pair.offerer.sendAudio({ packets: 25, timeoutMs: 5000 });
    await Promise.race([got25, new Promise((res) => setTimeout(res, 3000).unref())]);
    off();
    expect(tracker.report()).toMatchObject({ received: 25, lost: 0 });
    expect(tracker.report().jitterMs).toBeGreaterThanOrEqual(0);
  });

  it('a wrong TURN password gives no relay candidate and a CONNECTION error, not a silent timeout', async () => {
    const iceServers = toRtcIceServers([{ urls: [`turn:127.0.0.1:${turn.port}`], username: USER, credential: 'not-the-password' }]);
    const { RtcPeer } = await import('../../src/core/rtc/peer.js');
    const peer = new RtcPeer({ iceServers, relayOnly: true });
    try {
      await expect(peer.offer({ timeoutMs: 15_000 })).rejects.toMatchObject({ code: 'CONNECTION', message: expect.stringMatching(/no relay candidate/) });
    } finally {
      await peer.close();
    }
  });
});
