import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { openTurnTransport, TurnClient } from '../../src/core/turn/client.js';
import { measurePath, measureRemotePeer } from '../../src/core/turn/datapath.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { describeWith } from '../helpers/system.js';

/**
 * The waits of the relayed-path measurements end as soon as the run is
 * aborted, and an aborted measurement reports no figure. Against coturn's
 * real allocations.
 */
describeWith({ commands: ['turnserver'] }, 'relayed-path measurements: every wait is abortable', () => {
  const credentials = { username: 'waits', password: 'waits-pw' };
  let coturn: Coturn;
  let clients: TurnClient[] = [];
  beforeAll(async () => {
    coturn = await startCoturn({ users: [{ user: credentials.username, password: credentials.password }], args: ['--allow-loopback-peers'] });
  });
  afterAll(async () => {
    await coturn?.stop();
  });
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.release()));
    for (const c of clients) c.close();
    clients = [];
  });

  async function allocated(): Promise<TurnClient> {
    const ch = await openTurnTransport({ remote: { address: '127.0.0.1', port: coturn.port }, family: 4, transport: 'udp', timeout: 2000 });
    const c = new TurnClient(ch, { credentials, timeout: 2000 });
    clients.push(c);
    await c.allocate();
    return c;
  }

  it('an abort while waiting for echoes rejects with ABORTED instead of reporting the silence as loss', async () => {
    const a = await allocated();
    const b = await allocated();
    // No permissions: coturn drops every indication, so the measurement waits out its drain.
    const ends = { a, b, relayA: a.allocation!.relayed, relayB: b.allocation!.relayed };
    const t0 = performance.now();
    const r = await measurePath(ends, 'indication', { count: 3, size: 100, rate: 100, drain: 20000, signal: AbortSignal.timeout(300) }).then(
      (v) => ({ result: v }), (e: unknown) => ({ error: e as { code?: string } }));
    expect(r).toEqual({ error: expect.objectContaining({ code: 'ABORTED' }) });
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('an abort between paced sends ends the wait at once, not at the next send', async () => {
    const a = await allocated();
    const b = await allocated();
    await a.createPermission([b.allocation!.relayed]);
    await b.createPermission([a.allocation!.relayed]);
    const ends = { a, b, relayA: a.allocation!.relayed, relayB: b.allocation!.relayed };
    const t0 = performance.now();
    // One message every 10 s: the first goes at once, the abort comes during the wait for the second.
    const err = await measurePath(ends, 'indication', { count: 3, size: 100, rate: 0.1, drain: 1000, signal: AbortSignal.timeout(300) }).then(
      () => undefined, (e: unknown) => e as { code?: string });
    expect(err?.code).toBe('ABORTED');
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('the outside-peer measurement: an abort between sends ends the wait at once', async () => {
    const a = await allocated();
    const mapped = a.allocation!.mapped!;
    await a.createPermission([mapped]);
    const t0 = performance.now();
    const err = await measureRemotePeer(a, a.allocation!.relayed, mapped, { count: 3, size: 100, rate: 0.1, drain: 1000, signal: AbortSignal.timeout(300) }).then(
      () => undefined, (e: unknown) => e as { code?: string });
    expect(err?.code).toBe('ABORTED');
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
