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
import { setMaxListeners } from 'node:events';
import { formatEndpoint, type Endpoint } from '../address.js';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { UdpChannel } from '../net/udp.js';
import { resolveHost } from '../resolve.js';
import { StunClass, StunMethod } from '../stun/constants.js';
import { encodeMessage, newTransactionId } from '../stun/message.js';
import { StunTransactor } from '../stun/transaction.js';
import type { RetransmitOptions } from '../stun/retransmit.js';
import { sleep } from '../sleep.js';
import type { ServerSpec } from '../uri.js';
import { classify } from './classify.js';
import { NatSocket, routeSource } from './socket.js';
import type { BindingObservation, HairpinObservation, LifetimeObservation, LifetimeProbe, NatObservations, NatVerdict } from './types.js';

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

/** Where the RFC 5780 tests go: the answering server and its alternate address. */
interface Primary {
  input: string;
  server: Endpoint;
  t1: BindingObservation;
}

/**
 * The ICMP side of a first contact. The shared test sockets are unconnected,
 * and Linux reports no ICMP errors to those; a connected socket toward the
 * same server, sending its own Binding request, does. Resolves with the
 * UNREACHABLE error, or undefined (answered, silent, or stopped).
 */
async function icmpWatch(server: Endpoint, family: 4 | 6, local: string, retransmit: RetransmitOptions, signal: AbortSignal): Promise<RtcprobeError | undefined> {
  let ch: UdpChannel | undefined;
  try {
    ch = await UdpChannel.open({ remote: server, family, localAddress: local, signal });
    const transactor = new StunTransactor(ch);
    const request = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request });
    await transactor.transact(request, StunMethod.Binding, { retransmit, timeout: retransmit.timeout ?? 39500, signal });
    return undefined;
  } catch (err) {
    const e = toRtcprobeError(err);
    return e.code === 'UNREACHABLE' ? e : undefined;
  } finally {
    ch?.close();
  }
}

export async function runNatFamily(o: NatRunOptions): Promise<NatFamilyResult> {
  const started = performance.now();
  const obs: NatObservations = {
    family: o.family,
    server: o.servers[0]!.input,
    serverAddress: null,
    localAddress: null,
    fallbacks: [],
    mapping: [],
    filtering: [],
    compare: [],
    hairpin: null,
    lifetime: null,
    ignored: [],
  };
  const sockets: NatSocket[] = [];
  // One run-local signal, following the caller's: every transaction, sleep and
  // lifetime probe listens on it (dozens at once with a long --lifetime).
  const local$ = new AbortController();
  setMaxListeners(1000, local$.signal);
  const onOuterAbort = () => local$.abort(o.signal?.reason);
  if (o.signal?.aborted) onOuterAbort();
  else o.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = local$.signal;
  const sig = { signal };
  const first: RetransmitOptions = { ...o.retransmit, timeout: o.timeout };
  const negativeSchedule = (rtt: number | undefined): RetransmitOptions => {
    const rto = Math.min(o.retransmit.rto, Math.max(o.minRto, Math.ceil(3 * (rtt ?? o.retransmit.rto))));
    return { ...o.retransmit, rto, timeout: Math.max(o.wait, 7 * rto) };
  };
  try {
    const resolved = await Promise.all(
      o.servers.map(async (s) => {
        try {
          const r = await resolveHost(s.host, o.family, { timeout: o.timeout, ...sig });
          return { spec: s, addr: { address: r.address, port: s.port } as Endpoint };
        } catch (err) {
          const e = toRtcprobeError(err);
          if (e.code === 'ABORTED') throw e;
          return { spec: s, error: e };
        }
      }),
    );
    const reachable = resolved.filter((r): r is { spec: ServerSpec; addr: Endpoint } => 'addr' in r && !!r.addr);
    if (reachable.length === 0) {
      // Not one server resolved: say so for each of them.
      const errors = resolved.map((r) => r.error!);
      obs.fallbacks!.push(...resolved.slice(1).map((r) => ({ server: r.spec.input, code: r.error!.code, message: r.error!.message })));
      throw new RtcprobeError(errors.every((e) => e.code === errors[0]!.code) ? errors[0]!.code : 'DNS', errors.map((e) => e.message).join('; '));
    }
    const local = o.localAddress ?? (await routeSource(reachable[0]!.addr, o.family));
    obs.localAddress = local;
    const open = async (name: string) => {
      const s = await NatSocket.open(name, o.family, local, signal);
      sockets.push(s);
      return s;
    };
    const M = await open('M');

    // Test I toward every server from M at once; the first in --server order that answers runs the tests.
    const stops = reachable.map(() => new AbortController());
    const contacts = reachable.map(async (r, k) => {
      const watchStop = new AbortController();
      const watchSignal = AbortSignal.any([signal, watchStop.signal]);
      let unreachable: RtcprobeError | undefined;
      const watch = icmpWatch(r.addr, o.family, local, first, watchSignal).then((e) => {
        if (e) {
          unreachable = e;
          stops[k]!.abort();
        }
      });
      try {
        const t = await M.binding({ test: 'mapping-1', server: r.spec.input, destination: r.addr, expectedSource: r.addr, retransmit: first, endEarly: stops[k]!.signal, ...sig });
        if (unreachable && t.outcome === 'timeout') {
          t.outcome = 'unreachable';
          t.detail = `ICMP error: ${unreachable.message}`;
        }
        return t;
      } finally {
        watchStop.abort();
        await watch;
      }
    });
    // Each is awaited below; an abort must not leave the later ones unhandled meanwhile.
    for (const c of contacts) c.catch(() => {});
    let primary: Primary | undefined;
    const passed: BindingObservation[] = [];
    for (let k = 0; k < reachable.length; k++) {
      const t = await contacts[k]!;
      if (t.outcome === 'answered' && t.mapped) {
        primary = { input: reachable[k]!.spec.input, server: reachable[k]!.addr, t1: t };
        for (const s of stops.slice(k + 1)) s.abort();
        break;
      }
      passed.push(t);
    }
    await Promise.allSettled(contacts);
    // Servers given up on, in order: unresolvable ones and those whose Test I failed before the one used.
    for (const r of resolved) {
      if (primary && r.spec.input === primary.input) break;
      if ('error' in r && r.error) obs.fallbacks!.push({ server: r.spec.input, code: r.error.code, message: r.error.message });
      const t = passed.find((p) => p.server === r.spec.input);
      if (t) obs.fallbacks!.push({ server: r.spec.input, code: t.outcome === 'unreachable' ? 'UNREACHABLE' : t.outcome === 'timeout' ? 'TIMEOUT' : t.outcome.toUpperCase().replace(/-/g, '_'), message: describeFailure(t) });
    }
    if (!primary) {
      // No server answered: the first one's Test I stands for the run (and says "UDP blocked" when all were silent).
      const t = passed[0]!;
      obs.server = t.server;
      obs.serverAddress = t.destination;
      obs.mapping.push(t);
      obs.fallbacks!.splice(0, obs.fallbacks!.length, ...obs.fallbacks!.filter((f) => f.server !== t.server));
      obs.compare.push(...passed.slice(1).map((p) => ({ ...p, test: 'compare' })));
      if (passed.every((p) => p.outcome === 'unreachable')) {
        obs.error = { code: 'UNREACHABLE', message: passed.map((p) => `${p.server}: ${p.detail ?? ''}`).join('; ') };
      }
    } else {
      obs.server = primary.input;
      obs.serverAddress = primary.server;
      obs.mapping.push(primary.t1);
      const server = primary.server;
      const name = primary.input;
      const F2 = await open('F2');
      const F3 = await open('F3');

      const mappingAndFiltering = (async () => {
        const t1 = primary.t1;
        // An RFC 3489 server names its alternate address CHANGED-ADDRESS; the tests are the same.
        const other = t1.otherAddress ?? t1.changedAddress;
        if (!other || other.address === server.address || other.port === server.port) return;
        const fast = negativeSchedule(t1.rtt);
        const altPrimaryPort = { address: other.address, port: server.port };
        const base = { server: name, retransmit: fast, ...sig };
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
            const t = await H1.binding({ test: 'hairpin-1', server: name, destination: server, expectedSource: server, retransmit: first, ...sig });
            if (t.outcome !== 'answered' || !t.mapped) return;
            const fast = negativeSchedule(t.rtt);
            const tid = newTransactionId();
            const arrival = H1.awaitTransaction(tid, fast.timeout!, signal);
            const stop = new AbortController();
            const sender = H2.binding({
              test: 'hairpin-2', server: name, destination: t.mapped, expectedSource: null, transactionId: tid,
              retransmit: fast, endEarly: stop.signal, ...sig,
            });
            sender.catch(() => {}); // awaited below; an abort rejects both at once
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
                const skipped = (outcome: BindingObservation['outcome'], detail: string): BindingObservation => ({
                  test: 'compare', server: r.spec.input, destination: 'addr' in r && r.addr ? r.addr : { address: r.spec.host, port: r.spec.port },
                  expectedSource: null, local: C.local, socket: 'C', outcome, transmissions: 0, detail,
                });
                if (!('addr' in r) || !r.addr) return skipped('skipped', `${r.error!.code}: ${r.error!.message}`);
                const gaveUp = obs.fallbacks!.find((f) => f.server === r.spec.input);
                if (gaveUp) return skipped('skipped', `Test I already failed: ${gaveUp.code}: ${gaveUp.message}`);
                return C.binding({ test: 'compare', server: r.spec.input, destination: r.addr, expectedSource: r.addr, retransmit: first, ...sig });
              }),
            );
            obs.compare.push(...list);
          })()
        : Promise.resolve();

      // Without NAT there is no mapping to expire: the lifetime test would only wait.
      const noNat = primary.t1.mapped!.address === primary.t1.local.address && primary.t1.mapped!.port === primary.t1.local.port;
      if (o.lifetime > 0 && noNat) obs.lifetime = { boundSeconds: o.lifetime, probes: [] };
      const lifetime = o.lifetime > 0 && !noNat ? runLifetime({ ...o, signal }, name, server, open, first, negativeSchedule, obs) : Promise.resolve();

      // Every group ends (an abort ends them all) before the sockets close.
      const settled = await Promise.allSettled([mappingAndFiltering, hairpin, compare, lifetime]);
      const failed = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
      if (failed) throw failed.reason;
    }
  } catch (err) {
    const e = toRtcprobeError(err);
    // A socket that cannot be bound is a runtime error of its own, not a finding about the network.
    if (e.code === 'SOCKET') throw e;
    if (e.code === 'ABORTED') obs.interrupted = true;
    else obs.error = { code: e.code, message: e.message };
  } finally {
    o.signal?.removeEventListener('abort', onOuterAbort);
    for (const s of sockets) {
      obs.ignored.push(...s.ignored);
      s.close();
    }
  }
  return finish();

  function finish(): NatFamilyResult {
    const verdict = classify(obs);
    return { family: o.family, elapsedMs: Math.round(performance.now() - started), verdict, observations: obs };
  }
}

function describeFailure(t: BindingObservation): string {
  switch (t.outcome) {
    case 'timeout': return `no answer to Test I after ${t.transmissions} transmission(s)`;
    case 'unreachable': return t.detail ?? 'ICMP unreachable';
    case 'wrong-source': return `Test I was answered from ${formatEndpoint(t.source)}, not from the server address`;
    case 'error-response': return `Test I got error ${t.errorCode?.code ?? '?'} ${t.errorCode?.reason ?? ''}`.trim();
    default: return t.detail ?? t.outcome;
  }
}

/**
 * Mapping lifetime (RFC 5780 §4.6, with RESPONSE-PORT): socket L_k gets a
 * mapping, stays idle for t_k seconds, then a fresh socket Y_k asks the server
 * to answer to L_k's mapped port. L_k hears the answer only while its mapping
 * lives. All probes run in parallel, so the whole test takes the bound.
 *
 * Silence means expiry only from a server shown to honour RESPONSE-PORT: a
 * control probe, sent as soon as its mapping exists, must be answered to L.
 * Some servers (RFC 3489 ones) drop requests with an attribute they do not
 * know, and that silence would otherwise read as "expired at once".
 */
async function runLifetime(
  o: NatRunOptions,
  serverName: string,
  server: Endpoint,
  open: (name: string) => Promise<NatSocket>,
  first: RetransmitOptions,
  negativeSchedule: (rtt: number | undefined) => RetransmitOptions,
  obs: NatObservations,
): Promise<void> {
  const signal = o.signal;
  const lt: LifetimeObservation = { boundSeconds: o.lifetime, probes: [] };
  obs.lifetime = lt;
  const probe = async (after: number, k: string): Promise<LifetimeProbe> => {
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
    ask.catch(() => {}); // awaited below; an abort rejects both at once
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
  };
  // Settled one by one: an interrupted run keeps the probes that ended.
  const [control, ...probes] = await Promise.allSettled([probe(0, 'c'), ...lifetimeSchedule(o.lifetime).map((after, k) => probe(after, String(k)))]);
  lt.probes = probes.filter((p) => p.status === 'fulfilled').map((p) => p.value);
  if (control!.status === 'fulfilled') {
    const c = control.value;
    lt.control = c;
    if (!lt.unsupported && c.alive !== true) {
      lt.unsupported = c.alive === false
        ? 'unsupported by this server: it did not answer a request carrying RESPONSE-PORT even right after the mapping was made'
        : `the control probe got no mapping (${c.detail ?? 'unknown'})`;
    }
  }
  const failed = [control!, ...probes].find((p): p is PromiseRejectedResult => p.status === 'rejected');
  if (failed) throw failed.reason;
}
