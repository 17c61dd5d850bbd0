import { RtcprobeError, toRtcprobeError, type ErrorCode } from './errors.js';
import { sameEndpoint, type Channel, type Endpoint } from './net/channel.js';
import { sleep } from './sleep.js';
import { StreamChannel, type TlsInfo } from './net/stream.js';
import { UdpChannel } from './net/udp.js';
import { resolveHost } from './resolve.js';
import { sanitizeRemoteText } from './sanitize.js';
import { summarize, type RttSummary } from './stats.js';
import { readAddress, readErrorCode, readString, readXorAddress, type TransportAddress } from './stun/attributes.js';
import { Attr, DEFAULT_TLS_PORT, StunClass, StunMethod } from './stun/constants.js';
import { encodeMessage } from './stun/message.js';
import type { RetransmitOptions } from './stun/retransmit.js';
import { StunTransactor, type IgnoredMessage } from './stun/transaction.js';
import type { ServerSpec, Transport } from './uri.js';

export interface StunProbeOptions {
  /** Transport to use; the URI's own (stuns: means TLS) wins when given. */
  transport?: Transport;
  family: 4 | 6;
  /** Binding requests to send, one after another. */
  count: number;
  /** Pause between two requests, ms. */
  interval: number;
  /** Per-request cap, ms (covers all retransmissions, and connection set-up). */
  timeout: number;
  retransmit: Omit<RetransmitOptions, 'timeout'>;
  insecure?: boolean;
  ca?: Buffer;
  signal?: AbortSignal;
  onIgnored?: (m: IgnoredMessage) => void;
}

/** One server's result. Fields typed `| null` are always present in JSON. */
export interface StunServerResult {
  server: string;
  transport: Transport;
  family: 4 | 6;
  ok: boolean;
  mappedAddress: TransportAddress | null;
  rtt: RttSummary | null;
  loss: number;
  error: { code: ErrorCode; message: string } | null;
  resolvedAddress?: TransportAddress;
  localAddress?: Endpoint;
  /** MAPPED-ADDRESS, when the server sent it too. */
  legacyMappedAddress?: TransportAddress;
  /** MAPPED-ADDRESS differs from XOR-MAPPED-ADDRESS: something on the path rewrites addresses. */
  alg: boolean;
  /** The mapped address changed between requests of this run. */
  mappingChanged: boolean;
  responseOrigin?: TransportAddress;
  otherAddress?: TransportAddress;
  /** OTHER-ADDRESS present: the server claims RFC 5780 support. */
  rfc5780: boolean;
  software?: string;
  tls?: TlsInfo;
  sent: number;
  received: number;
  retransmissions: number;
  /** Answers that arrived after a retransmission; their RTT is left out (Karn). */
  ambiguousSamples: number;
  ignored: IgnoredMessage[];
  errorResponse?: { code: number; reason: string };
}

/** Which transport and port a spec resolves to under the given options. */
export function effectiveTransport(spec: ServerSpec, requested?: Transport): { transport: Transport; port: number } {
  if (spec.transport && requested && spec.transport !== requested) {
    throw new RtcprobeError('BAD_SERVER', `"${spec.input}" means ${spec.transport.toUpperCase()}, but --transport ${requested} was given`);
  }
  const transport = spec.transport ?? requested ?? 'udp';
  const port = transport === 'tls' && !spec.explicitPort ? DEFAULT_TLS_PORT : spec.port;
  return { transport, port };
}


/** Query one STUN server `count` times and describe what it said. Never throws. */
export async function probeStunServer(spec: ServerSpec, o: StunProbeOptions): Promise<StunServerResult> {
  const result: StunServerResult = {
    server: spec.input,
    transport: spec.transport ?? o.transport ?? 'udp',
    family: o.family,
    ok: false,
    mappedAddress: null,
    rtt: null,
    loss: 0,
    error: null,
    alg: false,
    mappingChanged: false,
    rfc5780: false,
    sent: 0,
    received: 0,
    retransmissions: 0,
    ambiguousSamples: 0,
    ignored: [],
  };
  const samples: number[] = [];
  let channel: Channel | undefined;
  try {
    const { transport, port } = effectiveTransport(spec, o.transport);
    result.transport = transport;
    const resolved = await resolveHost(spec.host, o.family, { timeout: o.timeout, ...(o.signal ? { signal: o.signal } : {}) });
    result.resolvedAddress = { family: resolved.family, address: resolved.address, port };
    const remote = { address: resolved.address, port };
    if (transport === 'udp') {
      channel = await UdpChannel.open({ remote, family: o.family, ...(o.signal ? { signal: o.signal } : {}) });
    } else {
      const isLiteral = spec.host === resolved.address;
      const sc = await StreamChannel.open({
        remote,
        family: o.family,
        timeout: o.timeout,
        ...(o.signal ? { signal: o.signal } : {}),
        ...(transport === 'tls'
          ? { tls: { ...(isLiteral ? {} : { servername: spec.host }), insecure: !!o.insecure, ...(o.ca ? { ca: o.ca } : {}) } }
          : {}),
      });
      if (sc.tlsInfo) result.tls = sc.tlsInfo;
      channel = sc;
    }
    result.localAddress = channel.local;
    const transactor = new StunTransactor(channel, (m) => {
      result.ignored.push(m);
      o.onIgnored?.(m);
    });
    for (let i = 0; i < o.count; i++) {
      if (i > 0) await sleep(o.interval, o.signal);
      result.sent++;
      const request = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request });
      let answer;
      try {
        answer = await transactor.transact(request, StunMethod.Binding, {
          retransmit: { ...o.retransmit, timeout: o.timeout },
          timeout: o.timeout,
          ...(o.signal ? { signal: o.signal } : {}),
        });
      } catch (err) {
        const e = toRtcprobeError(err);
        // A request lost after the server has answered before is loss, not failure.
        if (e.code === 'TIMEOUT' && result.received > 0) continue;
        throw e;
      }
      result.received++;
      result.retransmissions += answer.transmissions - 1;
      if (answer.ambiguous) result.ambiguousSamples++;
      else samples.push(answer.rtt);
      const msg = answer.response;
      if (msg.cls === StunClass.ErrorResponse) {
        const ec = readErrorCode(msg);
        result.errorResponse = { code: ec?.code ?? 0, reason: sanitizeRemoteText(ec?.reason ?? '') };
        continue;
      }
      const xor = readXorAddress(msg, Attr.XorMappedAddress);
      const legacy = readAddress(msg, Attr.MappedAddress);
      const mapped = xor ?? legacy;
      if (!mapped) {
        throw new RtcprobeError('STUN_BAD_RESPONSE', 'Binding success response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS');
      }
      if (result.mappedAddress && !sameEndpoint(result.mappedAddress, mapped)) result.mappingChanged = true;
      result.mappedAddress = mapped;
      if (legacy) {
        result.legacyMappedAddress = legacy;
        if (xor && !sameEndpoint(xor, legacy)) result.alg = true;
      }
      const origin = readAddress(msg, Attr.ResponseOrigin);
      if (origin) result.responseOrigin = origin;
      const other = readAddress(msg, Attr.OtherAddress);
      if (other) result.otherAddress = other;
      result.rfc5780 = !!result.otherAddress;
      const sw = readString(msg, Attr.Software);
      if (sw !== undefined) result.software = sanitizeRemoteText(sw);
      result.ok = true;
    }
    if (!result.ok && result.errorResponse) {
      result.error = {
        code: 'STUN_ERROR_RESPONSE',
        message: `server answered ${result.errorResponse.code} ${result.errorResponse.reason}`.trim(),
      };
    }
  } catch (err) {
    const e = toRtcprobeError(err);
    result.error = { code: e.code, message: e.message };
  } finally {
    channel?.close();
  }
  result.loss = result.sent === 0 ? 1 : Math.round(((result.sent - result.received) / result.sent) * 1000) / 1000;
  result.rtt = summarize(samples) ?? null;
  return result;
}
