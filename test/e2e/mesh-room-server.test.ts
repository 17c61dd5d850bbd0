// The room-server rule of MeshPeer: with a peer that announced role "sfu"
// (or "mcu") in the room, clients offer to it and not to each other.
import { describe, expect, it } from 'vitest';
import { SignalRelay } from '../../src/core/signaling/server.js';
import { SignalClient } from '../../src/core/signaling/client.js';
import { MeshPeer, roomServerRole } from '../../src/core/rtc/mesh.js';
import { teardownAfterEach } from '../helpers/teardown.js';

const stops = teardownAfterEach();

describe('room servers in a mesh room', () => {
  it('reads the role from join meta', () => {
    expect(roomServerRole({ role: 'sfu' })).toBe('sfu');
    expect(roomServerRole({ role: 'mcu' })).toBe('mcu');
    expect(roomServerRole({ role: 'peer' })).toBeUndefined();
    expect(roomServerRole(undefined)).toBeUndefined();
  });

  it('clients offer to the server only, and drop client connections when a server arrives', async () => {
    const ac = new AbortController();
    stops.push(async () => ac.abort());
    const relay = new SignalRelay({ host: '127.0.0.1', port: 0 });
    const addr = await relay.listen();
    stops.push(() => relay.close('test over'));
    const mk = (peerId: string) => {
      const p = new MeshPeer({ url: addr.ws, room: 'r1', peerId, iceServers: [], loopback: true, traffic: { channels: ['data'] }, timeoutMs: 10_000, signal: ac.signal });
      stops.push(() => p.stop());
      return p;
    };
    const a = mk('a');
    const b = mk('b');
    await a.start();
    await b.start();
    // b found a in the room it joined: a client-to-client connection, as in a mesh.
    expect(b.remotes).toEqual(['a']);
    const offers: string[] = [];
    const server = new SignalClient({ url: addr.ws, room: 'r1', peerId: 'zz-sfu', meta: { role: 'sfu' }, reconnect: false, timeoutMs: 5000, signal: ac.signal });
    stops.push(() => server.close());
    const bothOffered = new Promise<void>((resolve) => {
      server.on('signal', ({ from, data }) => {
        if ((data as { type?: string }).type === 'offer') offers.push(from);
        if (new Set(offers).size === 2) resolve();
      });
    });
    await server.connect();
    await bothOffered;
    expect([...new Set(offers)].sort()).toEqual(['a', 'b']);
    expect(a.remotes).toEqual(['zz-sfu']);
    expect(b.remotes).toEqual(['zz-sfu']);
    expect(a.wants('b')).toBe(false);
    // A client joining later connects to the server only.
    const c = mk('0c');
    const offeredByC = new Promise<void>((resolve) => server.on('signal', ({ from }) => from === '0c' && resolve()));
    await c.start();
    await offeredByC;
    expect(c.remotes).toEqual(['zz-sfu']);
    expect(a.remotes).toEqual(['zz-sfu']);
  });
});
