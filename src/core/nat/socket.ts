/**
 * Node adapter for the NAT tests: one unconnected UDP socket bound to a
 * concrete local address, shared by several Binding transactions that may go
 * to different destinations and be answered from different sources. Incoming
 * datagrams are routed to their transaction by transaction ID only; the source
 * is checked afterwards by the test that knows what to expect.
 */
import dgram from 'node:dgram';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { endpointOf, sameEndpoint as same, type Endpoint } from '../address.js';
import { ChannelBase } from '../net/channel.js';
import { bindUdp, connectUdp } from '../net/udp.js';
import { sanitizeRemoteText } from '../sanitize.js';
import { changeRequest, readAddress, readErrorCode, readXorAddress, responsePort } from '../stun/attributes.js';
import { Attr, StunClass, StunMethod } from '../stun/constants.js';
import { decodeMessage, encodeMessage, type AttributeInput } from '../stun/message.js';
import type { RetransmitOptions } from '../stun/retransmit.js';
import { StunTransactor } from '../stun/transaction.js';
import type { BindingObservation } from './types.js';


/** A view of the shared socket toward one destination, for one StunTransactor. */
class DestinationChannel extends ChannelBase {
  readonly transport = 'udp' as const;
  readonly reliable = false;
  /** Source of the last datagram delivered to this view (the transactor accepts synchronously). */
  lastFrom: Endpoint | undefined;
  /** Datagrams sent through this view (first request and retransmissions). */
  sent = 0;
  /** The transaction has ended: later copies of its answer are duplicates. */
  done = false;
  /** It ended without an answer: a copy arriving now is a late answer, worth reporting. */
  timedOut = false;
  duplicates = 0;
  test = '';
  constructor(private readonly sock: NatSocket, readonly local: Endpoint, readonly remote: Endpoint) {
    super();
  }
  send(data: Buffer): void {
    this.sent++;
    this.sock.sendTo(data, this.remote);
  }
  deliver(data: Buffer, from: Endpoint): void {
    if (this.done) {
      if (this.timedOut) this.sock.ignored.push({ from, socket: this.sock.name, reason: `late answer to ${this.test}, after it had ended (raise --wait?)` });
      else this.duplicates++;
      return;
    }
    this.lastFrom = from;
    // Every source is handed over as a candidate answer; the test checks the source.
    this.emit('message', data, from, false);
  }
  /** The shared socket failed: the transaction on this view ends with the error. */
  fail(err: Error): void {
    this.emit('error', err);
  }
  protected release(): void {}
}

/** One Binding test to run: what its observation will say about it, and how to run it. */
export interface BindingRequest extends Pick<BindingObservation, 'test' | 'server' | 'destination' | 'expectedSource' | 'changeRequest'> {
  /** RFC 5780 RESPONSE-PORT. */
  responsePort?: number;
  /** Use this transaction ID (12 bytes) instead of a random one. */
  transactionId?: Buffer;
  retransmit: RetransmitOptions;
  signal?: AbortSignal;
  /** Ends the transaction early without an error (outcome `timeout`): its answer is no longer needed. */
  endEarly?: AbortSignal;
}

export class NatSocket {
  private readonly views = new Map<string, DestinationChannel>();
  private readonly watches = new Map<string, (from: Endpoint) => void>();
  private closed = false;
  readonly ignored: { from: Endpoint; socket: string; reason: string }[] = [];

  private constructor(private readonly sock: dgram.Socket, readonly name: string, readonly local: Endpoint) {
    sock.on('message', (data, rinfo) => this.onMessage(data, { address: rinfo.address, port: rinfo.port }));
    // Unconnected UDP sockets see no ICMP errors on Linux; other errors end the views.
    sock.on('error', (err) => {
      for (const v of this.views.values()) v.fail(toRtcprobeError(err, `UDP socket ${name}`));
    });
  }

  static async open(name: string, family: 4 | 6, localAddress: string, signal?: AbortSignal): Promise<NatSocket> {
    signal?.throwIfAborted();
    const sock = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
    try {
      await bindUdp(sock, 0, localAddress, true);
    } catch (err) {
      sock.close();
      throw toRtcprobeError(err, `cannot bind a UDP socket to ${localAddress}`);
    }
    const a = sock.address();
    return new NatSocket(sock, name, { address: a.address, port: a.port });
  }

  sendTo(data: Buffer, to: Endpoint): void {
    if (this.closed) throw new RtcprobeError('SOCKET', 'send on a closed socket');
    this.sock.send(data, to.port, to.address);
  }

  private onMessage(data: Buffer, from: Endpoint): void {
    if (data.length < 20) {
      this.ignored.push({ from, socket: this.name, reason: `${data.length}-byte datagram` });
      return;
    }
    const key = data.subarray(8, 20).toString('hex');
    const watch = this.watches.get(key);
    if (watch) {
      watch(from);
      return;
    }
    const view = this.views.get(key);
    if (view) {
      view.deliver(data, from);
      return;
    }
    try {
      decodeMessage(data);
      this.ignored.push({ from, socket: this.name, reason: `unknown transaction ${key}` });
    } catch (err) {
      this.ignored.push({ from, socket: this.name, reason: `not STUN: ${(err as Error).message}` });
    }
  }

  /**
   * One Binding transaction with RFC 8489 retransmissions (StunTransactor),
   * reported as an observation. Never throws except on abort.
   */
  async binding(r: BindingRequest): Promise<BindingObservation> {
    const obs: BindingObservation = {
      test: r.test,
      server: r.server,
      destination: r.destination,
      expectedSource: r.expectedSource,
      ...(r.changeRequest ? { changeRequest: r.changeRequest } : {}),
      local: this.local,
      socket: this.name,
      outcome: 'timeout',
      transmissions: 0,
    };
    const attributes: AttributeInput[] = [];
    if (r.changeRequest) attributes.push(changeRequest(r.changeRequest));
    if (r.responsePort !== undefined) attributes.push(responsePort(r.responsePort));
    const request = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, attributes, ...(r.transactionId ? { transactionId: r.transactionId } : {}) });
    const key = request.subarray(8, 20).toString('hex');
    const view = new DestinationChannel(this, this.local, r.destination);
    view.test = r.test;
    // The view stays registered: late duplicates are recognised, not reported as unknown.
    this.views.set(key, view);
    const transactor = new StunTransactor(view, (m) => {
      this.ignored.push({ from: m.from, socket: this.name, reason: `${m.reason}: ${m.detail}` });
    });
    const started = performance.now();
    const signals = [r.signal, r.endEarly].filter((x): x is AbortSignal => !!x);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    try {
      const res = await transactor.transact(request, StunMethod.Binding, {
        retransmit: r.retransmit,
        timeout: r.retransmit.timeout ?? 39500,
        ...(signal ? { signal } : {}),
      });
      view.done = true;
      obs.transmissions = res.transmissions;
      obs.elapsedMs = Math.round((performance.now() - started) * 100) / 100;
      if (!res.ambiguous) obs.rtt = Math.round(res.rtt * 100) / 100;
      const from = view.lastFrom;
      if (from) obs.source = { address: from.address, port: from.port };
      const msg = res.response;
      if (msg.cls === StunClass.ErrorResponse) {
        const ec = readErrorCode(msg);
        obs.outcome = 'error-response';
        obs.errorCode = { code: ec?.code ?? 0, reason: sanitizeRemoteText(ec?.reason ?? '') };
        return obs;
      }
      const xor = readXorAddress(msg, Attr.XorMappedAddress);
      const legacy = readAddress(msg, Attr.MappedAddress);
      const strip = (a?: Endpoint) => (a ? endpointOf(a) : undefined);
      if (xor) obs.xorMapped = endpointOf(xor);
      if (legacy) obs.legacyMapped = endpointOf(legacy);
      const mapped = xor ?? legacy;
      if (mapped) obs.mapped = endpointOf(mapped);
      const other = strip(readAddress(msg, Attr.OtherAddress));
      if (other) obs.otherAddress = other;
      const changed = strip(readAddress(msg, Attr.ChangedAddress));
      if (changed) obs.changedAddress = changed;
      const origin = strip(readAddress(msg, Attr.ResponseOrigin));
      if (origin) obs.responseOrigin = origin;
      if (r.expectedSource && !same(obs.source, r.expectedSource)) obs.outcome = 'wrong-source';
      else if (!mapped) {
        obs.outcome = 'failed';
        obs.detail = 'Binding success response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS';
      } else obs.outcome = 'answered';
    } catch (err) {
      view.done = true;
      const e = toRtcprobeError(err);
      // Ended early because its answer is no longer needed: a late copy is no news.
      view.timedOut = !(e.code === 'ABORTED' && r.endEarly?.aborted);
      if (e.code === 'ABORTED' && !(r.endEarly?.aborted && !r.signal?.aborted)) throw e;
      obs.transmissions = view.sent;
      obs.outcome = e.code === 'TIMEOUT' || e.code === 'ABORTED' ? 'timeout' : 'failed';
      if (obs.outcome === 'failed') obs.detail = `${e.code}: ${e.message}`;
    }
    return obs;
  }

  /**
   * Wait for any datagram carrying this transaction ID (a response another
   * socket asked for with RESPONSE-PORT, or a hairpinned request).
   * Resolves with its source, or null after `timeoutMs`.
   */
  awaitTransaction(transactionId: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Endpoint | null> {
    const key = transactionId.toString('hex');
    return new Promise<Endpoint | null>((resolve, reject) => {
      const done = (v: Endpoint | null) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.watches.delete(key);
        resolve(v);
      };
      const onAbort = () => {
        clearTimeout(timer);
        this.watches.delete(key);
        reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal?.reason }));
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.watches.set(key, (from) => done({ address: from.address, port: from.port }));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}

/** The local address the kernel would use toward `remote`: a concrete interface address. */
export async function routeSource(remote: Endpoint, family: 4 | 6): Promise<string> {
  const sock = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
  try {
    await connectUdp(sock, remote);
    return sock.address().address;
  } catch (err) {
    throw toRtcprobeError(err, `no IPv${family} route to ${remote.address}`);
  } finally {
    sock.close();
  }
}
