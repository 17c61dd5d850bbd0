// Media follows the offer/answer: a peer whose remote offered less (no video, no audio) still
// connects, measures its data channels, and reports RTP figures only for streams that come.
import { describe, expect, it } from 'vitest';
import { SignalRelay } from '../../src/core/signaling/server.js';
import { MeshPeer, type MeshChannel, type MeshEvent } from '../../src/core/rtc/mesh.js';
import { until } from '../helpers/signal.js';
import { teardownAfterEach } from '../helpers/teardown.js';

const stops = teardownAfterEach();

describe('negotiated media in a mesh connection', () => {
  it('the offerer has data only, the answerer data, audio and video: both up, no failure, no RTP figures from silence', async () => {
    const ac = new AbortController();
    stops.push(async () => ac.abort());
    const relay = new SignalRelay({ host: '127.0.0.1', port: 0 });
    const addr = await relay.listen();
    stops.push(() => relay.close('test over'));
    const events: MeshEvent[] = [];
    const mk = (peerId: string, channels: MeshChannel[]) => {
      const p = new MeshPeer({ url: addr.ws, room: 'media', peerId, iceServers: [], loopback: true, traffic: { channels }, timeoutMs: 20_000, signal: ac.signal, onEvent: (e) => events.push(e) });
      stops.push(() => p.stop());
      return p;
    };
    // "a" sorts first: it offers, with data channels only.
    const a = mk('a', ['data']);
    const b = mk('b', ['data', 'audio', 'video']);
    await a.start();
    await b.start();
    const echoed = async (p: MeshPeer) => ((await p.connections())[0]?.dc?.reliable.echoed ?? 0) > 10;
    await until(async () => (await echoed(a)) && (await echoed(b)), 30_000, 'probes echoed both ways');
    expect(events.filter((e) => e.event === 'peer-failed')).toEqual([]);
    const [cb] = await b.connections();
    expect(cb).toMatchObject({ remote: 'a', role: 'answerer', state: 'up' });
    // Nothing was negotiated for audio or video: no figures for them (before, the connection failed).
    expect(cb!.audio).toBeUndefined();
    expect(cb!.video).toBeUndefined();
    expect(cb!.dc!.reliable.echoed).toBeGreaterThan(10);
  });

  it('the offerer sends audio, the answerer wants audio and video: audio both ways, no video figures', async () => {
    const ac = new AbortController();
    stops.push(async () => ac.abort());
    const relay = new SignalRelay({ host: '127.0.0.1', port: 0 });
    const addr = await relay.listen();
    stops.push(() => relay.close('test over'));
    const failed: MeshEvent[] = [];
    const mk = (peerId: string, channels: MeshChannel[]) => {
      const p = new MeshPeer({ url: addr.ws, room: 'media2', peerId, iceServers: [], loopback: true, traffic: { channels }, timeoutMs: 20_000, signal: ac.signal, onEvent: (e) => e.event === 'peer-failed' && failed.push(e) });
      stops.push(() => p.stop());
      return p;
    };
    const a = mk('a', ['audio']);
    const b = mk('b', ['audio', 'video']);
    await a.start();
    await b.start();
    const audioIn = async (p: MeshPeer) => ((await p.connections())[0]?.audio?.packetsReceived ?? 0) > 10;
    await until(async () => (await audioIn(a)) && (await audioIn(b)), 30_000, 'audio both ways');
    expect(failed).toEqual([]);
    const [cb] = await b.connections();
    expect(cb!.video).toBeUndefined();
  });
});
