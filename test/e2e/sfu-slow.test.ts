// A subscriber that stops reading: every packet towards its port is dropped
// by nftables on loopback, so the SFU's data-channel queue towards it grows.
// The SFU stops sending to it, then removes it; the others carry on.
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { describeWith } from '../helpers/system.js';
import { SignalRelay } from '../../src/core/signaling/server.js';
import { MeshPeer } from '../../src/core/rtc/mesh.js';
import { SfuServer } from '../../src/core/rtc/sfu-server.js';
import { teardownAfterEach } from '../helpers/teardown.js';
import { until } from '../helpers/signal.js';

const stops = teardownAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const TABLE = `rtcprobe_sfu_slow_${process.pid}`;
const nft = (...args: string[]) => execFileSync('nft', args, { stdio: ['ignore', 'pipe', 'pipe'] });

describeWith({ commands: ['nft'], root: true }, 'sfu: a subscriber that stops reading', () => {
  it('is cut off, then removed, without slowing the others', async () => {
    const ac = new AbortController();
    stops.push(async () => ac.abort());
    const relay = new SignalRelay({ host: '127.0.0.1', port: 0, limits: { messagesPerSecond: 10_000, messageBurst: 10_000 } });
    const addr = await relay.listen();
    stops.push(() => relay.close('test over'));
    const server = new SfuServer({ url: addr.ws, rooms: ['r'], peerId: 'sfu', iceServers: [], loopback: true, timeoutMs: 20_000, signal: ac.signal, maxQueuedBytes: 16_384, slowTimeoutMs: 1500 });
    stops.push(() => server.stop());
    await server.start();
    const clients = ['a', 'b', 'c'].map((id) => {
      const p = new MeshPeer({ url: addr.ws, room: 'r', peerId: id, iceServers: [], loopback: true, traffic: { channels: ['data', 'audio'], dataRate: 50, dataSize: 400 }, timeoutMs: 20_000, signal: ac.signal });
      stops.push(() => p.stop());
      return p;
    });
    for (const p of clients) await p.start();
    await until(() => server.participants().filter((p) => p.state === 'up').length === 3, 30_000, 'all up');
    const [cConn] = await clients[2]!.connections();
    const port = Number(cConn!.pair!.localAddress!.split(':').pop());
    expect(port).toBeGreaterThan(0);
    // c stops reading: nothing reaches its socket any more.
    nft('add', 'table', 'inet', TABLE);
    stops.push(async () => nft('delete', 'table', 'inet', TABLE));
    nft('add', 'chain', 'inet', TABLE, 'out', '{ type filter hook output priority 0 ; }');
    nft('add', 'rule', 'inet', TABLE, 'out', 'udp', 'dport', String(port), 'drop');
    for (const p of clients.slice(0, 2)) p.startWindow();
    const t0 = Date.now();
    await until(() => server.participants().find((p) => p.participant === 'c')?.state === 'removed', 30_000, 'c removed');
    const c = server.participants().find((p) => p.participant === 'c')!;
    // Cut off for being slow (1.5 s over 16 KiB queued; ICE takes far longer to notice).
    expect(c.removedReason).toBe('slow');
    expect(server.drops().slow_subscriber).toBeGreaterThan(0);
    expect(Date.now() - t0).toBeLessThan(30_000);
    await sleep(1000);
    // a and b: connected, each other's audio and probes arriving without loss.
    for (const p of clients.slice(0, 2)) {
      const [conn] = await p.connections();
      expect(conn!.state).toBe('up');
      expect(conn!.audio!.stream.received).toBeGreaterThan(50);
      expect(conn!.audio!.stream.lossRatio).toBeLessThan(0.05);
      expect(conn!.dc!.reliable.received.lossRatio).toBeLessThan(0.05);
    }
    expect(server.participants().filter((p) => p.state === 'up').map((p) => p.participant).sort()).toEqual(['a', 'b']);
  }, 120_000);
});
