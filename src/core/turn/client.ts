/**
 * A thin TURN client over the project's UDP/TCP/TLS channels. The protocol
 * decisions (signing, 401/438 handling, framing) live in protocol.ts; this
 * file only moves bytes, runs transactions and hands relayed data out.
 */
import { RtcprobeError } from '../errors.js';
import type { Endpoint, TransportAddress } from '../address.js';
import { ChannelBase, type Channel } from '../net/channel.js';
import { StreamChannel, type TlsInfo } from '../net/stream.js';
import { UdpChannel } from '../net/udp.js';
import { readString } from '../stun/attributes.js';
import { STUN_STREAM_FRAMER } from '../stun/framing.js';
import { Attr, methodName, StunMethod } from '../stun/constants.js';
import { sanitizeRemoteText } from '../sanitize.js';
import type { StunMessage } from '../stun/message.js';
import type { RetransmitOptions } from '../stun/retransmit.js';
import { StunTransactor, type IgnoredMessage } from '../stun/transaction.js';
import type { Transport } from '../uri.js';
import {
  allocateAttributes,
  channelBindAttributes,
  decodeChannelData,
  decodeDataIndication,
  encodeChannelData,
  encodeSendIndication,
  isChannelData,
  isDataIndication,
  permissionAttributes,
  readAllocateSuccess,
  readRelayedAddresses,
  readLifetime,
  refreshAttributes,
  TurnAuth,
  turnErrorName,
  type AllocateParams,
  type AllocateSuccess,
  type TurnCredentials,
} from './protocol.js';

/** A final TURN error response, as an exception. */
export class TurnErrorResponse extends RtcprobeError {
  constructor(
    readonly method: number,
    readonly errorCode: number,
    readonly reason: string,
    /** A 401 after credentials were sent: the server does not accept them. */
    readonly rejected: boolean,
    readonly response?: StunMessage,
    /** The request that got this answer carried MESSAGE-INTEGRITY. */
    readonly signed = false,
  ) {
    super('STUN_ERROR_RESPONSE', errorCode === 0
      ? `${methodName(method)} answered with an error response without ERROR-CODE`
      : `${methodName(method)} answered ${errorCode} ${reason || turnErrorName(errorCode)}`);
    this.name = 'TurnErrorResponse';
  }
}

/**
 * Splits relayed traffic (ChannelData, Data indications) from STUN responses
 * before the transactor sees them: relayed packets never pay for a decode
 * attempt meant for responses.
 */
class DemuxChannel extends ChannelBase {
  /** Datagrams from some other address than the server's (a peer sending to us directly); true = consumed. */
  onStray: ((data: Buffer, from: Endpoint) => boolean) | undefined;
  constructor(
    readonly inner: Channel,
    private readonly onRelayed: (data: Buffer) => void,
  ) {
    super();
    inner.on('message', (data, from, stray) => {
      if (!stray && (isChannelData(data) || isDataIndication(data))) this.onRelayed(data);
      else if (stray && this.onStray?.(data, from)) return;
      else this.emit('message', data, from, stray);
    });
    inner.on('error', (err) => this.emit('error', err));
  }
  get transport() { return this.inner.transport; }
  get reliable() { return this.inner.reliable; }
  get local() { return this.inner.local; }
  get remote() { return this.inner.remote; }
  send(data: Buffer): void { this.inner.send(data); }
  protected release(): void { this.inner.close(); }
}

export interface TurnConnectOptions {
  remote: Endpoint;
  family: 4 | 6;
  transport: Transport;
  /** TLS: name to verify (omitted for IP literals). */
  servername?: string;
  insecure?: boolean;
  ca?: Buffer;
  timeout: number;
  signal?: AbortSignal;
}

export interface TurnClientOptions {
  credentials?: TurnCredentials;
  /** Per-transaction cap, ms (retransmissions included). */
  timeout: number;
  retransmit?: Omit<RetransmitOptions, 'timeout'>;
  signal?: AbortSignal;
  onIgnored?: (m: IgnoredMessage) => void;
}

/** Relayed data handed to the application: from a channel or a Data indication. */
export type RelayedHandler = (data: Buffer, via: { channel: number } | { peer: TransportAddress }) => void;

export interface TurnAnswer {
  response: StunMessage;
  /** ms, of the last exchange (a challenge round trip is not included). */
  rtt: number;
  integrity: 'ok' | 'missing' | 'mismatch' | 'unchecked';
}

/** Open the transport toward a TURN server. */
export async function openTurnTransport(o: TurnConnectOptions): Promise<Channel & { tlsInfo?: TlsInfo }> {
  const signal = o.signal ? { signal: o.signal } : {};
  if (o.transport === 'udp') return UdpChannel.open({ remote: o.remote, family: o.family, ...signal });
  return StreamChannel.open({
    remote: o.remote,
    family: o.family,
    framer: STUN_STREAM_FRAMER,
    timeout: o.timeout,
    ...signal,
    ...(o.transport === 'tls'
      ? { tls: { ...(o.servername ? { servername: o.servername } : {}), insecure: !!o.insecure, ...(o.ca ? { ca: o.ca } : {}) } }
      : {}),
  });
}

export class TurnClient {
  readonly auth: TurnAuth;
  private readonly channel: DemuxChannel;
  private readonly transactor: StunTransactor;
  private handler: RelayedHandler | undefined;
  private closed = false;
  private fatal: Error | undefined;
  allocation: AllocateSuccess | undefined;
  /** The answer that granted the current allocation. */
  allocateAnswer: TurnAnswer | undefined;
  /** Relayed packets that could not be parsed. */
  malformedRelayed = 0;
  /** Set when an Allocate asked for an address family and the relayed address granted is of another. */
  familyMismatch: { asked: 4 | 6; granted: TransportAddress } | undefined;
  /** The SOFTWARE attribute of the last response that carried one. */
  software: string | undefined;

  constructor(
    channel: Channel,
    private readonly o: TurnClientOptions,
  ) {
    this.auth = new TurnAuth(o.credentials);
    this.channel = new DemuxChannel(channel, (d) => this.onRelayed(d));
    this.channel.on('error', (err) => { this.fatal = err; });
    this.transactor = new StunTransactor(this.channel, o.onIgnored ?? (() => {}));
  }

  get transport(): Transport { return this.channel.transport; }
  get local(): Endpoint { return this.channel.local; }
  get remote(): Endpoint { return this.channel.remote; }
  get stream(): boolean { return this.channel.reliable; }
  get error(): Error | undefined { return this.fatal; }

  onRelayedData(h: RelayedHandler): void {
    this.handler = h;
  }

  private onRelayed(data: Buffer): void {
    const h = this.handler;
    if (isChannelData(data)) {
      const cd = decodeChannelData(data);
      if (!cd) { this.malformedRelayed++; return; }
      h?.(cd.data, { channel: cd.channel });
      return;
    }
    const di = decodeDataIndication(data);
    if (!di) { this.malformedRelayed++; return; }
    h?.(di.data, { peer: di.peer });
  }

  /**
   * Run one authenticated request: builds, sends, follows a 401 challenge or
   * a 438 stale nonce, and returns the success answer or throws a
   * {@link TurnErrorResponse} (or a transport error).
   */
  async request(
    method: number,
    attrs: Parameters<TurnAuth['build']>[1],
    limits: { timeout: number; signal?: AbortSignal | undefined } = { timeout: this.o.timeout, signal: this.o.signal },
  ): Promise<TurnAnswer> {
    for (let attempt = 0; attempt < 6; attempt++) {
      if (this.fatal) throw this.fatal;
      const req = this.auth.build(method, attrs);
      const ans = await this.transactor.transact(req, method, {
        retransmit: { ...(this.o.retransmit ?? { rto: 500, rc: 7, rm: 16 }), timeout: limits.timeout },
        timeout: limits.timeout,
        ...(limits.signal ? { signal: limits.signal } : {}),
      });
      const sw = readString(ans.response, Attr.Software);
      if (sw !== undefined) this.software = sanitizeRemoteText(sw);
      const v = this.auth.interpret(ans.response);
      if (v.kind === 'success') return { response: v.response, rtt: ans.rtt, integrity: v.integrity };
      if (v.kind === 'error') throw new TurnErrorResponse(method, v.code, v.reason, v.rejected, v.response, v.signed);
    }
    throw new RtcprobeError('STUN_BAD_RESPONSE', 'the server kept asking for authentication');
  }

  async allocate(p: AllocateParams = {}): Promise<AllocateSuccess & { answer: TurnAnswer }> {
    const answer = await this.request(StunMethod.Allocate, allocateAttributes(p));
    const a = readAllocateSuccess(answer.response);
    if (!a) throw new RtcprobeError('STUN_BAD_RESPONSE', 'Allocate success response without XOR-RELAYED-ADDRESS');
    this.familyMismatch = undefined;
    if (p.family !== undefined) {
      // A response may list several relayed addresses: use the one of the family asked for, and note when there is none.
      const match = readRelayedAddresses(answer.response).find((r) => r.port !== 0 && r.family === p.family);
      if (match) a.relayed = match;
      else this.familyMismatch = { asked: p.family, granted: a.relayed };
    }
    this.allocation = a;
    this.allocateAnswer = answer;
    return { ...a, answer };
  }

  /** Refresh; lifetime 0 deletes the allocation. Returns the granted lifetime. */
  async refresh(lifetime: number): Promise<number | undefined> {
    const answer = await this.request(StunMethod.Refresh, refreshAttributes(lifetime));
    return readLifetime(answer.response);
  }

  async deallocate(): Promise<void> {
    await this.refresh(0);
    this.allocation = undefined;
  }

  /**
   * Best-effort deallocation for clean-up paths: it runs even after the
   * run was aborted (the abort signal is not applied), within `timeout` ms,
   * and never throws.
   */
  async release(timeout = 1000): Promise<void> {
    if (!this.allocation || this.fatal || this.closed) return;
    try {
      await this.request(StunMethod.Refresh, refreshAttributes(0), { timeout: Math.min(timeout, this.o.timeout) });
      this.allocation = undefined;
    } catch {
      /* the server will expire it */
    }
  }

  async createPermission(peers: { address: string; port?: number }[]): Promise<TurnAnswer> {
    return this.request(StunMethod.CreatePermission, (tid) => permissionAttributes(peers, tid));
  }

  async channelBind(channel: number, peer: Endpoint): Promise<TurnAnswer> {
    return this.request(StunMethod.ChannelBind, (tid) => channelBindAttributes(channel, peer, tid));
  }

  /**
   * UDP only: datagrams that reach our socket from elsewhere than the server
   * (a peer, or a relay sending to our server-reflexive address). The handler
   * returns true for the datagrams it takes.
   */
  onDirectData(h: ((data: Buffer, from: Endpoint) => boolean) | undefined): void {
    this.channel.onStray = h;
  }

  /** UDP only: send a datagram from our own socket straight to `to`, not through the server. */
  sendDirect(to: Endpoint, data: Buffer): void {
    const inner = this.channel.inner;
    if (!(inner instanceof UdpChannel)) throw new RtcprobeError('INTERNAL', 'direct sends need a UDP transport');
    inner.catcher.send(data, to.port, to.address);
  }

  sendIndication(peer: Endpoint, data: Buffer): void {
    this.channel.send(encodeSendIndication(peer, data));
  }

  sendChannelData(channel: number, data: Buffer): void {
    this.channel.send(encodeChannelData(channel, data, this.channel.reliable));
  }

  /** Send a raw, already framed message (ChannelData prepared once, for speed). */
  sendRaw(frame: Buffer): void {
    this.channel.send(frame);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
  }
}

