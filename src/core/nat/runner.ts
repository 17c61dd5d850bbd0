/**
 * Runs the RFC 5780 tests over real UDP sockets and collects raw observations
 * for the classifier. Test groups use fresh sockets, all bound to one concrete
 * local address, and run in parallel:
 *
 *   socket M   mapping Test I, then Tests II and III (same local port)
 *   socket F2  filtering Test II (CHANGE-REQUEST: IP and port)
 *   socket F3  filtering Test III (CHANGE-REQUEST: port)
 *   H1 / H2    hairpinning: H2 sends to H1's mapped address
 *   socket C   Test I toward every server (do mappings vary by destination?)
 *   L_k / Y_k  mapping lifetime, with RESPONSE-PORT (only with a bound)
 *
 * Transactions follow the RFC 8489 retransmission schedule. The first contact
 * uses the configured RTO; tests whose silence is a result use an RTO derived
 * from the RTT just measured (RFC 8489 §6.2.1 allows an RTT-based estimate,
 * here the RFC 6298 first-sample rule RTO = 3 x RTT, floored), and wait at least
 * `wait` ms and at least 7 RTOs before calling a test negative.
 */
import { toRtcprobeError } from '../errors.js';
import { resolveHost } from '../resolve.js';
import { newTransactionId } from '../stun/message.js';
import type { RetransmitOptions } from '../stun/retransmit.js';
import { sleep } from '../sleep.js';
import type { ServerSpec } from '../uri.js';
import { classify } from './classify.js';
import { NatSocket, routeSource } from './socket.js';
import type { Addr, BindingObservation, HairpinObservation, LifetimeObservation, NatObservations, NatVerdict } from './types.js';

export interface NatRunOptions {
  /** The first server runs the RFC 5780 tests; with several, all are compared. */
  servers: ServerSpec[];
  family: 4 | 6;
  /** Bind here instead of the address the route to the first server uses. */
  localAddress?: string;
  /** First-contact retransmission (RFC 8489 RTO, Rc, Rm). */
  retransmit: Omit<RetransmitOptions, 'timeout'>;
  /** Cap for a first-contact transaction, ms. */
  timeout: number;
  /** Least time a test whose silence is the result waits, ms. */
  wait: number;
  /** Floor for the RTT-derived RTO, ms. */
  minRto: number;
  hairpin: boolean;
  /** Mapping-lifetime discovery up to this many seconds (0: off). */
  lifetime: number;
  signal?: AbortSignal;
}

export interface NatFamilyResult {
  family: 4 | 6;
  elapsedMs: number;
  verdict: NatVerdict;
  observations: NatObservations;
}

/** Idle times probed by lifetime discovery, up to the bound. */
export function lifetimeSchedule(bound: number): number[] {
  const steps = [1, 2, 4, 8, 15, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200, 1800, 3600];
  const out = steps.filter((s) => s < bound);
  out.push(bound);
  return out;
}

export async function runNatFamily(o: NatRunOptions): Promise<NatFamilyResult> {
  const started = performance.now();
  const primary = o.servers[0]!;
  const obs: NatObservations = {
    family: o.family,
    server: primary.input,
    serverAddress: null,
    localAddress: null,
    mapping: [],
    filtering: [],
    compare: [],
    hairpin: null,
    lifetime: null,
    ignored: [],
  };
  const sockets: NatSocket[] = [];
  const signal = o.signal;
  const first: RetransmitOptions = { ...o.retransmit, timeout: o.timeout };
  const negativeSchedule = (rtt: number | undefined): RetransmitOptions => {
    const rto = Math.min(o.retransmit.rto, Math.max(o.minRto, Math.ceil(3 * (rtt ?? o.retransmit.rto))));
    return { ...o.retransmit, rto, timeout: Math.max(o.wait, 7 * rto) };
  };
  try {
    const resolved = await Promise.all(
      o.servers.map(async (s) => {
        try {
          const r = await resolveHost(s.host, o.family, { timeout: o.timeout, ...(signal ? { signal } : {}) });
          return { spec: s, addr: { address: r.address, port: s.port } as Addr };
        } catch (err) {
          return { spec: s, error: toRtcprobeError(err) };
        }
      }),
    );
    const p = resolved[0]!;
    if (!('addr' in p) || !p.addr) throw p.error;
    const server = p.addr;
    obs.serverAddress = server;
    const local = o.localAddress ?? (await routeSource(server, o.family));
    obs.localAddress = local;
    const open = async (name: string) => {
      const s = await NatSocket.open(name, o.family, local, signal);
      sockets.push(s);
      return s;
    };
    const M = await open('M');
    const F2 = await open('F2');
    const F3 = await open('F3');

    const mappingAndFiltering = (async () => {
      const t1 = await M.binding({ test: 'mapping-1', server: primary.input, destination: server, expectedSource: server, retransmit: first, ...(signal ? { signal } : {}) });
      obs.mapping.push(t1);
      const other = t1.otherAddress;
      if (t1.outcome !== 'answered' || !other || other.address === server.address || other.port === server.port) return;
      const fast = negativeSchedule(t1.rtt);
      const altPrimaryPort = { address: other.address, port: server.port };
      const base = { server: primary.input, retransmit: fast, ...(signal ? { signal } : {}) };
      const [m2, m3, f2, f3] = await Promise.all([
        M.binding({ ...base, test: 'mapping-2', destination: altPrimaryPort, expectedSource: altPrimaryPort }),
        M.binding({ ...base, test: 'mapping-3', destination: other, expectedSource: other }),
        F2.binding({ ...base, test: 'filtering-2', destination: server, expectedSource: other, changeRequest: { changeIp: true, changePort: true } }),
        F3.binding({ ...base, test: 'filtering-3', destination: server, expectedSource: { address: server.address, port: other.port }, changeRequest: { changeIp: false, changePort: true } }),
      ]);
      obs.mapping.push(m2, m3);
      obs.filtering.push(f2, f3);
    })();

    const hairpin = o.hairpin
      ? (async () => {
          const H1 = await open('H1');
          const H2 = await open('H2');
          const t = await H1.binding({ test: 'hairpin-1', server: primary.input, destination: server, expectedSource: server, retransmit: first, ...(signal ? { signal } : {}) });
          if (t.outcome !== 'answered' || !t.mapped) return;
          const fast = negativeSchedule(t.rtt);
          const tid = newTransactionId();
          const arrival = H1.awaitTransaction(tid, fast.timeout!, signal);
          const stop = new AbortController();
          const sender = H2.binding({
            test: 'hairpin-2', server: primary.input, destination: t.mapped, expectedSource: null, transactionId: tid,
            retransmit: fast, endEarly: stop.signal, ...(signal ? { signal } : {}),
          });
          const from = await arrival;
          stop.abort();
          const sent = await sender;
          const h: HairpinObservation = { target: t.mapped, received: !!from, transmissions: sent.transmissions };
          if (from) h.from = from;
          obs.hairpin = h;
        })()
      : Promise.resolve();

    const compare = o.servers.length > 1
      ? (async () => {
          const C = await open('C');
          const list = await Promise.all(
            resolved.map(async (r): Promise<BindingObservation> => {
              if (!('addr' in r) || !r.addr) {
                const e = r.error!;
                return { test: 'compare', server: r.spec.input, destination: { address: r.spec.host, port: r.spec.port }, expectedSource: null, local: C.local, socket: 'C', outcome: 'failed', transmissions: 0, detail: `${e.code}: ${e.message}` };
              }
              return C.binding({ test: 'compare', server: r.spec.input, destination: r.addr, expectedSource: r.addr, retransmit: first, ...(signal ? { signal } : {}) });
            }),
          );
          obs.compare.push(...list);
        })()
      : Promise.resolve();

    const lifetime = o.lifetime > 0 ? runLifetime(o, primary.input, server, open, first, negativeSchedule, obs) : Promise.resolve();

    await Promise.all([mappingAndFiltering, hairpin, compare, lifetime]);
  } catch (err) {
    const e = toRtcprobeError(err);
    if (e.code === 'ABORTED') throw e;
    obs.error = { code: e.code, message: e.message };
  } finally {
    for (const s of sockets) {
      obs.ignored.push(...s.ignored);
      s.close();
    }
  }
  const verdict = classify(obs);
  return { family: o.family, elapsedMs: Math.round(performance.now() - started), verdict, observations: obs };
}

/**
 * Mapping lifetime (RFC 5780 §4.6, with RESPONSE-PORT): socket L_k gets a
 * mapping, stays idle for t_k seconds, then a fresh socket Y_k asks the server
 * to answer to L_k's mapped port. L_k hears the answer only while its mapping
 * lives. All probes run in parallel, so the whole test takes the bound.
 */
async function runLifetime(
  o: NatRunOptions,
  serverName: string,
  server: Addr,
  open: (name: string) => Promise<NatSocket>,
  first: RetransmitOptions,
  negativeSchedule: (rtt: number | undefined) => RetransmitOptions,
  obs: NatObservations,
): Promise<void> {
  const signal = o.signal;
  const lt: LifetimeObservation = { boundSeconds: o.lifetime, probes: [] };
  obs.lifetime = lt;
  const schedule = lifetimeSchedule(o.lifetime);
  const probes = await Promise.all(
    schedule.map(async (after, k) => {
      const L = await open(`L${k}`);
      const t = await L.binding({ test: `lifetime-${after}s`, server: serverName, destination: server, expectedSource: server, retransmit: first, ...(signal ? { signal } : {}) });
      if (t.outcome !== 'answered' || !t.mapped) return { afterSeconds: after, alive: null, detail: `no mapping: ${t.outcome}` };
      const mapped = t.mapped;
      await sleep(after * 1000, signal);
      const Y = await open(`Y${k}`);
      const fast = negativeSchedule(t.rtt);
      const tid = newTransactionId();
      const arrival = L.awaitTransaction(tid, fast.timeout!, signal);
      const stop = new AbortController();
      const ask = Y.binding({
        test: `lifetime-${after}s-probe`, server: serverName, destination: server, expectedSource: server, transactionId: tid,
        responsePort: mapped.port, retransmit: fast, endEarly: stop.signal, ...(signal ? { signal } : {}),
      });
      const from = await arrival;
      stop.abort();
      const y = await ask;
      if (y.outcome === 'error-response') {
        lt.unsupported = `the server rejects RESPONSE-PORT (error ${y.errorCode?.code ?? '?'})`;
        return { afterSeconds: after, alive: null, detail: 'RESPONSE-PORT rejected' };
      }
      if (y.outcome === 'answered' || y.outcome === 'wrong-source') {
        lt.unsupported ??= 'the server ignores RESPONSE-PORT (it answered the asking socket)';
        return { afterSeconds: after, alive: null, detail: 'RESPONSE-PORT ignored' };
      }
      return { afterSeconds: after, alive: !!from };
    }),
  );
  lt.probes = probes;
}
