import { RtcprobeError, toRtcprobeError, type ErrorCode } from '../errors.js';
import { sameEndpoint, type Endpoint, type TransportAddress } from '../address.js';
import type { Channel } from '../net/channel.js';
import { sleep } from '../sleep.js';
import { StreamChannel, type TlsInfo } from '../net/stream.js';
import { UdpChannel } from '../net/udp.js';
import { isIP } from 'node:net';
import { lookupAddress, type DnsClient } from '../dns/client.js';
import type { IdnNames } from '../dns/idn.js';
import { serviceTargets, type SrvResult, type SrvTarget } from '../dns/srv.js';
import { classifyAddress, type AddressClass } from './address-class.js';
import { sanitizeRemoteText } from '../sanitize.js';
import { summarize, type RttSummary } from '../stats.js';
import { readAddress, readErrorCode, readString, readXorAddress } from './attributes.js';
import { Attr, StunClass, StunMethod } from './constants.js';
import { STUN_STREAM_FRAMER } from './framing.js';
import { encodeMessage } from './message.js';
import type { RetransmitOptions } from './retransmit.js';
import { StunTransactor, type IgnoredMessage } from './transaction.js';
import { effectiveTransport, type ServerSpec, type Transport } from '../uri.js';

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
  /**
   * DNS client for the SRV lookup (RFC 7064) of a host name given without a
   * port, and for A/AAAA when it was given servers. Without one, no SRV
   * lookup is made and the system resolves the host.
   */
  dns?: DnsClient;
  /** Look up SRV records through `dns` (default true). */
  srv?: boolean;
  /** Both spellings of the host, when it is an internationalised name. */
  idn?: IdnNames;
  /** UDP: bind this local port (watch mode reuses one port so that the NAT mapping can be followed). */
  localPort?: number;
}

/** One server's result. Fields typed `| null` are always present in JSON. */
export interface StunServerResult {
  server: string;
  transport: Transport;
  family: 4 | 6;
  ok: boolean;
  mappedAddress: TransportAddress | null;
  /** What kind of address the mapped address is; null when there is none. */
  mappedAddressClass: AddressClass | null;
  rtt: RttSummary | null;
  /** Fraction of requests left unanswered; null when no request was sent. */
  loss: number | null;
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
  /** RFC 3489 SOURCE-ADDRESS: where the response was sent from (classic counterpart of RESPONSE-ORIGIN). */
  sourceAddress?: TransportAddress;
  /** RFC 3489 CHANGED-ADDRESS: the server's alternate address and port (classic counterpart of OTHER-ADDRESS). */
  changedAddress?: TransportAddress;
  /**
   * The server looks like a classic RFC 3489 server: it sends MAPPED-ADDRESS
   * with SOURCE-ADDRESS or CHANGED-ADDRESS, and no OTHER-ADDRESS.
   */
  classic: boolean;
  /** The SRV step, when the host was a name given without a port. */
  srv?: SrvResult & { target?: SrvTarget };
  /** Both spellings of an internationalised host name. */
  idn?: IdnNames;
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

/** Query one STUN server `count` times and describe what it said. Never throws. */
export async function probeStunServer(spec: ServerSpec, o: StunProbeOptions): Promise<StunServerResult> {
  const result: StunServerResult = {
    server: spec.input,
    transport: spec.transport ?? o.transport ?? 'udp',
    family: o.family,
    ok: false,
    mappedAddress: null,
    mappedAddressClass: null,
    rtt: null,
    loss: null,
    error: null,
    alg: false,
    mappingChanged: false,
    rfc5780: false,
    classic: false,
    sent: 0,
    received: 0,
    retransmissions: 0,
    ambiguousSamples: 0,
    ignored: [],
    ...(o.idn ? { idn: o.idn } : {}),
  };
  const samples: number[] = [];
  let channel: Channel | undefined;
  try {
    const { transport, port } = effectiveTransport(spec, o.transport);
    result.transport = transport;
    const dnsOpts = { timeout: o.timeout, ...(o.signal ? { signal: o.signal } : {}), ...(o.dns ? { dns: o.dns } : {}) };
    let targets: SrvTarget[] = [{ host: spec.host, port }];
    if (o.dns && o.srv !== false && !spec.explicitPort && !isIP(spec.host)) {
      const found = await serviceTargets(spec, transport, port, (n) => o.dns!.resolveSrv(n), dnsOpts);
      targets = found.targets;
      if (found.srv) result.srv = found.srv;
    }
    // SRV targets are tried in order until one resolves for this family.
    let resolved: Awaited<ReturnType<typeof lookupAddress>> | undefined;
    let target = targets[0]!;
    for (const [i, t] of targets.entries()) {
      try {
        resolved = await lookupAddress(t.host, o.family, dnsOpts);
        target = t;
        break;
      } catch (err) {
        if (i === targets.length - 1 || toRtcprobeError(err).code === 'ABORTED') throw err;
      }
    }
    if (result.srv && !result.srv.fallback) result.srv.target = target;
    result.resolvedAddress = { family: resolved!.family, address: resolved!.address, port: target.port };
    const remote = { address: resolved!.address, port: target.port };
    if (transport === 'udp') {
      channel = await UdpChannel.open({ remote, family: o.family, ...(o.localPort ? { localPort: o.localPort } : {}), ...(o.signal ? { signal: o.signal } : {}) });
    } else {
      const isLiteral = isIP(spec.host) !== 0;
      const sc = await StreamChannel.open({
        remote,
        family: o.family,
        framer: STUN_STREAM_FRAMER,
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
      result.mappedAddressClass = classifyAddress(mapped.address);
      if (legacy) {
        result.legacyMappedAddress = legacy;
        if (xor && !sameEndpoint(xor, legacy)) result.alg = true;
      }
      const origin = readAddress(msg, Attr.ResponseOrigin);
      if (origin) result.responseOrigin = origin;
      const other = readAddress(msg, Attr.OtherAddress);
      if (other) result.otherAddress = other;
      result.rfc5780 = !!result.otherAddress;
      const source = readAddress(msg, Attr.SourceAddress);
      if (source) result.sourceAddress = source;
      const changed = readAddress(msg, Attr.ChangedAddress);
      if (changed) result.changedAddress = changed;
      result.classic = !!result.legacyMappedAddress && !!(result.sourceAddress || result.changedAddress) && !result.otherAddress;
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
  // Nothing sent (DNS or connection failure): there is no loss figure to give.
  result.loss = result.sent === 0 ? null : Math.round(((result.sent - result.received) / result.sent) * 1000) / 1000;
  result.rtt = summarize(samples) ?? null;
  return result;
}
