/**
 * Node adapters for the port-mapping probes: UDP to the gateway's port 5351
 * (NAT-PMP, PCP), SSDP multicast search, and HTTP to the IGD's description
 * and control URLs. Each takes a timeout and an AbortSignal; an abort rejects
 * with ABORTED, everything else ends in a result. "present" is true only when
 * an answer was received and parsed: silence, a closed port or garbage is
 * "absent", with the reason in `error`.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { RtcprobeError } from '../errors.js';
import { sanitizeRemoteText } from '../sanitize.js';
import { decodeNatPmpResponse, encodeNatPmpExternalAddressRequest, PORTMAP_PORT, type NatPmpResponse } from './natpmp.js';
import { decodePcpResponse, encodePcpMapRequest, PCP_OP_MAP, type PcpResponse } from './pcp.js';
import { encodeMSearch, IGD_SEARCH_TARGETS, parseSsdpResponse, SSDP_ADDRESS, SSDP_PORT, type SsdpResponse } from './ssdp.js';
import { encodeGetExternalIpRequest, findWanService, parseGetExternalIpResponse } from './upnp.js';

export interface ProbeOptions {
  /** Upper bound for the whole probe, in milliseconds. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface NatPmpResult {
  present: boolean;
  externalAddress?: string;
  epoch?: number;
  resultCode?: number;
  /** Why absent, or what went wrong after an answer. */
  error?: string;
}

export interface PcpResult {
  present: boolean;
  version?: number;
  resultCode?: number;
  externalAddress?: string;
  epoch?: number;
  error?: string;
}

export interface UpnpResult {
  present: boolean;
  externalAddress?: string;
  /** The SERVER header of the search response (remote text, sanitised). */
  server?: string;
  location?: string;
  error?: string;
}

export interface PortmapReport {
  gateway: string;
  upnp: UpnpResult;
  natpmp: NatPmpResult;
  pcp: PcpResult;
}

function aborted(signal?: AbortSignal): RtcprobeError {
  return new RtcprobeError('ABORTED', 'port-mapping probe cancelled', { cause: signal?.reason });
}

/** The IPv4 default gateway of this network namespace (from /proc/net/route), if any. */
export async function defaultGatewayV4(): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile('/proc/net/route', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3 || f[1] !== '00000000' || !/^[0-9A-Fa-f]{8}$/.test(f[2]!) || f[2] === '00000000') continue;
    const n = parseInt(f[2]!, 16); // little-endian in the file
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
  }
  return undefined;
}

type UdpOutcome<T> = { kind: 'answer'; value: T } | { kind: 'timeout' } | { kind: 'closed' } | { kind: 'socket'; message: string };

/**
 * The plumbing both UDP probes share: one socket, one outcome. `settle`
 * resolves or rejects once (closing the socket and clearing the timers), the
 * deadline settles with `onTimeout`, an abort rejects with ABORTED, and
 * `resendEvery` sends at once and again after 250 ms, doubling each time
 * (RFC 6886 section 3.1), until settled.
 */
function oneShotSocket<T>(
  sock: dgram.Socket,
  opts: ProbeOptions,
  onTimeout: () => T,
  resolve: (v: T) => void,
  reject: (e: unknown) => void,
): { settle: (v: T) => void; done: () => boolean; resendEvery: (send: () => void) => void } {
  let done = false;
  let resend: NodeJS.Timeout | undefined;
  const finish = (fn: () => void) => {
    if (done) return;
    done = true;
    clearTimeout(deadline);
    clearTimeout(resend);
    opts.signal?.removeEventListener('abort', onAbort);
    try {
      sock.close();
    } catch {
      /* already closed */
    }
    fn();
  };
  const onAbort = () => finish(() => reject(aborted(opts.signal)));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const deadline = setTimeout(() => finish(() => resolve(onTimeout())), opts.timeoutMs);
  return {
    settle: (v) => finish(() => resolve(v)),
    done: () => done,
    resendEvery: (send) => {
      let wait = 250;
      const tick = () => {
        if (done) return;
        send();
        resend = setTimeout(tick, wait);
        wait *= 2;
      };
      tick();
    },
  };
}

/**
 * Sends `payload` to gateway:5351 from a connected socket, resending after
 * 250 ms, then doubling (RFC 6886 section 3.1), until `accept` takes a reply
 * or the time is up. An ICMP port unreachable ends it as "closed".
 */
function udpExchange<T>(
  gateway: string,
  payload: (local: { address: string; port: number }) => Buffer,
  accept: (msg: Buffer) => T | undefined,
  opts: ProbeOptions,
): Promise<UdpOutcome<T>> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(aborted(opts.signal));
    const sock = dgram.createSocket('udp4');
    const x = oneShotSocket<UdpOutcome<T>>(sock, opts, () => ({ kind: 'timeout' }), resolve, reject);
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') x.settle({ kind: 'closed' });
      else x.settle({ kind: 'socket', message: err.code ?? err.message });
    };
    sock.on('error', onError);
    sock.on('message', (msg) => {
      const v = accept(msg);
      if (v !== undefined) x.settle({ kind: 'answer', value: v });
    });
    sock.connect(PORTMAP_PORT, gateway, () => {
      if (x.done()) return;
      const data = payload(sock.address());
      x.resendEvery(() => sock.send(data, (err) => {
        if (err) onError(err as NodeJS.ErrnoException);
      }));
    });
  });
}

function udpAbsence(o: { kind: 'timeout' | 'closed' | 'socket'; message?: string }, timeoutMs: number): string {
  if (o.kind === 'closed') return 'port closed (ICMP port unreachable)';
  if (o.kind === 'timeout') return `no answer within ${timeoutMs} ms`;
  return `socket error: ${o.message}`;
}

/** NAT-PMP external-address request to gateway:5351. */
export async function probeNatPmp(gateway: string, opts: ProbeOptions): Promise<NatPmpResult> {
  const o = await udpExchange<NatPmpResponse>(gateway, () => encodeNatPmpExternalAddressRequest(), decodeNatPmpResponse, opts);
  if (o.kind !== 'answer') return { present: false, error: udpAbsence(o as { kind: 'timeout' }, opts.timeoutMs) };
  const r = o.value;
  const out: NatPmpResult = { present: true, resultCode: r.resultCode, epoch: r.epoch };
  if (r.externalAddress !== undefined) out.externalAddress = r.externalAddress;
  return out;
}

/**
 * PCP MAP request (UDP, for the probe socket's own port, lifetime 60 s) to
 * gateway:5351; when a mapping was granted it is deleted again (lifetime 0)
 * within the same time budget.
 */
export async function probePcp(gateway: string, opts: ProbeOptions): Promise<PcpResult> {
  const started = Date.now();
  const nonce = randomBytes(12);
  let clientAddress = '';
  let internalPort = 0;
  const o = await udpExchange<PcpResponse>(
    gateway,
    (local) => {
      // The probe socket's own address and port: a gateway in secure mode maps only those.
      clientAddress = local.address;
      internalPort = local.port;
      return encodePcpMapRequest({ clientAddress, nonce, internalPort, lifetime: 60 });
    },
    (msg) => {
      const r = decodePcpResponse(msg);
      if (!r) return undefined;
      if (r.version === 2 && (r.opcode !== PCP_OP_MAP || (r.nonce && !r.nonce.equals(nonce)))) return undefined;
      return r;
    },
    opts,
  );
  if (o.kind !== 'answer') return { present: false, error: udpAbsence(o as { kind: 'timeout' }, opts.timeoutMs) };
  const r = o.value;
  if (r.version !== 2) {
    // A NAT-PMP-only gateway says "unsupported version" in its own version: not a PCP server.
    return { present: false, version: r.version, resultCode: r.resultCode, error: `the gateway answered with version ${r.version}, not PCP` };
  }
  const out: PcpResult = { present: true, version: r.version, resultCode: r.resultCode, epoch: r.epoch };
  if (r.externalAddress !== undefined) out.externalAddress = r.externalAddress;
  if (r.resultCode === 0) {
    const left = opts.timeoutMs - (Date.now() - started);
    if (left > 0) {
      await udpExchange(
        gateway,
        () => encodePcpMapRequest({ clientAddress, nonce, internalPort, lifetime: 0 }),
        (msg) => decodePcpResponse(msg),
        { timeoutMs: left, signal: opts.signal },
      );
    }
  }
  return out;
}

/** SSDP M-SEARCH for an IGD; the first response with a LOCATION, or the reason there is none. */
function ssdpSearch(opts: ProbeOptions): Promise<{ response?: SsdpResponse; from?: string; error?: string }> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(aborted(opts.signal));
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    const x = oneShotSocket<{ response?: SsdpResponse; from?: string; error?: string }>(
      sock, opts, () => ({ error: `no SSDP answer within ${opts.timeoutMs} ms` }), resolve, reject);
    sock.on('error', (err: NodeJS.ErrnoException) => x.settle({ error: `socket error: ${err.code ?? err.message}` }));
    sock.on('message', (msg, rinfo) => {
      const r = parseSsdpResponse(msg);
      if (!r || r.status !== 200 || !r.location) return;
      x.settle({ response: r, from: rinfo.address });
    });
    sock.bind(0, () => {
      if (x.done()) return;
      try {
        sock.setMulticastTTL(2);
      } catch {
        /* the default TTL (1) still reaches the LAN */
      }
      x.resendEvery(() => {
        for (const st of IGD_SEARCH_TARGETS) sock.send(encodeMSearch(st, 1), SSDP_PORT, SSDP_ADDRESS);
      });
    });
  });
}

const MAX_BODY = 256 * 1024;

/** One HTTP request with a deadline; the body as text, capped. */
function httpText(url: string, init: { method: string; headers?: Record<string, string>; body?: string }, timeoutMs: number, signal?: AbortSignal): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const signals = [AbortSignal.timeout(Math.max(1, timeoutMs))];
    if (signal) signals.push(signal);
    const sig = AbortSignal.any(signals);
    const req = http.request(url, { method: init.method, headers: init.headers, signal: sig }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          req.destroy(new Error('response body too large'));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** UPnP IGD: SSDP search, device description, SOAP GetExternalIPAddress. */
export async function probeUpnp(opts: ProbeOptions): Promise<UpnpResult> {
  const started = Date.now();
  const left = () => opts.timeoutMs - (Date.now() - started);
  const found = await ssdpSearch(opts);
  if (!found.response) return { present: false, error: found.error ?? 'no answer' };
  const out: UpnpResult = { present: true, location: sanitizeRemoteText(found.response.location!, 256) };
  if (found.response.server) out.server = sanitizeRemoteText(found.response.server);
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    if (left() <= 0) {
      out.error = `${what}: no time left within ${opts.timeoutMs} ms`;
      return undefined;
    }
    try {
      return await fn();
    } catch (err) {
      if (opts.signal?.aborted) throw aborted(opts.signal);
      const e = err as NodeJS.ErrnoException;
      out.error = `${what}: ${e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${opts.timeoutMs} ms` : sanitizeRemoteText(e.code ?? e.message)}`;
      return undefined;
    }
  };
  let location: URL;
  try {
    location = new URL(found.response.location!);
  } catch {
    out.error = 'the LOCATION header is not a URL';
    return out;
  }
  // Only follow a description URL on the host that answered the search, over plain HTTP.
  if (location.protocol !== 'http:' || location.hostname !== found.from) {
    out.error = `the LOCATION ${out.location} is not an http: URL on the answering host ${found.from}`;
    return out;
  }
  const desc = await step('device description', () => httpText(location.toString(), { method: 'GET' }, left(), opts.signal));
  if (!desc) return out;
  if (desc.status !== 200) {
    out.error = `device description: HTTP ${desc.status}`;
    return out;
  }
  const svc = findWanService(desc.body, location.toString());
  if (!svc) {
    out.error = 'the device description has no WANIPConnection or WANPPPConnection service';
    return out;
  }
  if (new URL(svc.controlUrl).hostname !== found.from) {
    out.error = 'the control URL is not on the answering host';
    return out;
  }
  const soap = encodeGetExternalIpRequest(svc.serviceType);
  const answer = await step('GetExternalIPAddress', () =>
    httpText(svc.controlUrl, { method: 'POST', headers: { 'Content-Type': 'text/xml; charset="utf-8"', SOAPAction: soap.soapAction }, body: soap.body }, left(), opts.signal),
  );
  if (!answer) return out;
  const parsed = parseGetExternalIpResponse(answer.body);
  if (parsed.kind === 'address') out.externalAddress = parsed.externalAddress;
  else if (parsed.kind === 'no-address') out.error = `GetExternalIPAddress: no usable address (${JSON.stringify(sanitizeRemoteText(parsed.value))})`;
  else if (parsed.kind === 'fault') out.error = `GetExternalIPAddress: SOAP fault ${parsed.errorCode ?? '?'} ${sanitizeRemoteText(parsed.errorDescription ?? '')}`.trim();
  else out.error = `GetExternalIPAddress: HTTP ${answer.status}, not a SOAP response`;
  return out;
}

/** All three probes at once, each bounded by opts.timeoutMs. */
export async function probePortmap(opts: ProbeOptions & { gateway?: string }): Promise<PortmapReport> {
  const gateway = opts.gateway ?? (await defaultGatewayV4());
  if (!gateway) throw new RtcprobeError('UNREACHABLE', 'no IPv4 default gateway to ask for port mapping');
  const [upnp, natpmp, pcp] = await Promise.all([probeUpnp(opts), probeNatPmp(gateway, opts), probePcp(gateway, opts)]);
  return { gateway, upnp, natpmp, pcp };
}
