/**
 * Stage 1, reaching the server: DNS, the TCP or TLS connection (UDP
 * reachability is answered by the first Allocate, in allocate.ts), the
 * certificate, and for a turns: URI whose TLS failed, what the port is
 * instead. Rows: dns, reach, tls.
 */
import { isIP } from 'node:net';
import { lookupAddress } from '../../dns/client.js';
import { serviceTargets, type SrvTarget } from '../../dns/srv.js';
import { RtcprobeError, toRtcprobeError } from '../../errors.js';
import { StunMethod } from '../../stun/constants.js';
import { plainTlsText } from '../../net/tls-text.js';
import { formatHostPort } from '../../uri.js';
import { openTurnTransport, TurnClient, TurnErrorResponse } from '../client.js';
import { addr, errText, type Endpoint, type OpenedClient, type ServerCheck } from '../context.js';
import { plainPortForTurns, TLS_HANDSHAKE_FAILED, TLS_UNTRUSTED, TLS_UNTRUSTED_CONTINUED } from '../hints.js';

/**
 * Resolve the server; sets `x.remote`. A host name given without a port is
 * first looked up as SRV (RFC 7065: `_turn._udp`, `_turn._tcp`,
 * `_turns._tcp`), whose targets are tried in order until one has an address;
 * without a usable record the host itself is used with the scheme's default
 * port. The TLS server name stays the URI's host (RFC 7065 §3, RFC 6125).
 * False (after a failed dns row) when nothing resolves.
 */
export async function resolveServer(x: ServerCheck): Promise<boolean> {
  const { t, o } = x;
  const dnsOpts = { timeout: o.timeout, ...x.signalOption, ...(o.dns ? { dns: o.dns } : {}) };
  let targets: SrvTarget[] = [{ host: t.spec.host, port: t.spec.port }];
  if (o.dns && o.srv !== false && !t.spec.explicitPort && !isIP(t.spec.host)) {
    const found = await serviceTargets(t.spec, x.transport, t.spec.port, (n) => o.dns!.resolveSrv(n), dnsOpts);
    targets = found.targets;
    if (found.srv) x.info.srv = found.srv;
  }
  const srv = x.info.srv;
  const srvText = !srv ? '' : srv.fallback ? `no SRV (${srv.query}: ${srv.error ?? 'nothing usable'}), default port ${t.spec.port}; ` : '';
  const tried: string[] = [];
  for (const [i, target] of targets.entries()) {
    try {
      const r = await lookupAddress(target.host, o.family, dnsOpts);
      x.info.resolved = r.address;
      x.info.port = target.port;
      x.remote = { address: r.address, port: target.port };
      if (srv && !srv.fallback) {
        srv.target = target;
        const skipped = tried.length ? ` (${tried.join('; ')})` : '';
        x.add('dns', 'pass', `SRV ${srv.query} -> ${formatHostPort(target.host, target.port)}${skipped}; ${target.host} is ${r.address}; TLS name ${t.spec.host}`);
      } else {
        x.add('dns', 'pass', t.spec.host === r.address ? `${r.address} (IP literal)` : `${srvText}${t.spec.host} is ${r.address}`);
      }
      return true;
    } catch (err) {
      if (toRtcprobeError(err).code === 'ABORTED' || i === targets.length - 1) {
        const prefix = srv && !srv.fallback ? `SRV ${srv.query} -> ${targets.map((g) => formatHostPort(g.host, g.port)).join(', ')}: ` : srvText;
        x.add('dns', 'fail', `${prefix}${errText(err)}`,
          srv && !srv.fallback
            ? `no target of the SRV records of ${srv.query} has an address (IPv${o.family} was asked for): check the A/AAAA records of the targets`
            : `check the host name in the TURN URI and its A/AAAA record (IPv${o.family} was asked for)`);
        return false;
      }
      tried.push(`${formatHostPort(target.host, target.port)}: ${toRtcprobeError(err).code}`);
    }
  }
  return false;
}

/**
 * Open the first client with the target's credentials: the connection (TCP,
 * TLS) and the certificate. Undefined when the check cannot go on.
 */
export async function connect(x: ServerCheck): Promise<OpenedClient | undefined> {
  const { o, transport } = x;
  const remote = x.remote!;
  x.progress('connecting');
  const t0 = performance.now();
  let a: OpenedClient;
  try {
    a = await x.open(x.t.credentials);
  } catch (err) {
    const e = toRtcprobeError(err);
    if (transport === 'tls' && e.code !== 'UNREACHABLE' && e.code !== 'ABORTED' && e.code !== 'DNS' && e.code !== 'SOCKET') {
      // The TLS connection failed after TCP may have connected: find out what the port is.
      await diagnoseTls(x, remote, e, (performance.now() - t0));
      return undefined;
    }
    x.add('reach', 'fail', `${transport.toUpperCase()} ${addr(remote)}: ${plainTlsText(e.message)}`,
      e.code === 'UNREACHABLE'
        ? `nothing accepts connections on ${addr(remote)}: is the TURN server running, listening on this port and allowed through the firewall?`
        : e.code === 'TIMEOUT'
          ? `the connection attempt got no answer: a firewall drops ${transport.toUpperCase()} to port ${remote.port}, or the host is down`
          : 'check that the server is up and that the port is right');
    if (transport === 'tls') x.add('tls', 'skip', 'no TCP connection, no TLS handshake');
    return undefined;
  }
  if (transport !== 'udp') x.add('reach', 'pass', `${transport.toUpperCase()} connection to ${addr(remote)} in ${(performance.now() - t0).toFixed(1)} ms`);
  const tls = a.tlsInfo;
  if (transport === 'tls' && tls) {
    x.info.tls = tls;
    const what = `${tls.protocol ?? 'TLS'} ${tls.cipher ?? ''}, certificate CN=${tls.peerSubject ?? '?'} issued by ${tls.peerIssuer ?? '?'}${tls.validTo ? `, valid to ${tls.validTo}` : ''}`;
    if (tls.authorized) {
      x.add('tls', 'pass', `${what}: chain and name verified`);
    } else if (o.insecure) {
      x.add('tls', 'warn', `${what}: NOT trusted (${tls.authorizationError}); continuing because of --insecure`, x.hint(TLS_UNTRUSTED_CONTINUED));
    } else {
      x.add('tls', 'fail', `${what}: NOT trusted (${tls.authorizationError})`, x.hint(TLS_UNTRUSTED));
      return undefined;
    }
  }
  return a;
}

/** OpenSSL and Node TLS error text in plain words (lives in net/tls-text.ts). */
export { plainTlsText };

/**
 * A turns: URI whose TLS connection failed: open plain TCP to the same port
 * to tell "nothing there" from "TCP works, TLS does not", and ask it a STUN
 * Binding in the clear to recognise a plain STUN/TURN port.
 */
async function diagnoseTls(x: ServerCheck, remote: Endpoint, tlsErr: RtcprobeError, elapsed: number): Promise<void> {
  const { o } = x;
  let plain: TurnClient | undefined;
  try {
    const ch = await openTurnTransport({ remote, family: o.family, transport: 'tcp', timeout: o.timeout, ...x.signalOption });
    plain = new TurnClient(ch, { timeout: Math.min(o.timeout, 2000), ...x.signalOption });
  } catch (err) {
    const e = toRtcprobeError(err);
    x.add('reach', 'fail', `TCP ${addr(remote)}: ${plainTlsText(e.message)}`,
      e.code === 'TIMEOUT'
        ? `the connection attempt got no answer: a firewall drops TCP to port ${remote.port}, or the host is down`
        : 'check that the server is up and that the port is right');
    x.add('tls', 'skip', 'no TCP connection, no TLS handshake');
    return;
  }
  x.add('reach', 'pass', `TCP ${addr(remote)} accepts connections`);
  let speaksStun = false;
  try {
    await plain.request(StunMethod.Binding, []);
    speaksStun = true;
  } catch (err) {
    // An error response is an answer too: the port speaks STUN in the clear.
    speaksStun = err instanceof TurnErrorResponse;
  } finally {
    if (plain.software) x.software = plain.software;
    plain.close();
  }
  if (speaksStun) {
    x.add('tls', 'fail', `the port does not speak TLS: the TLS handshake ${tlsErr.code === 'TIMEOUT' ? 'got no answer' : `failed (${plainTlsText(tlsErr.message)})`}, but a STUN request in the clear was answered`,
      x.hint(plainPortForTurns(formatHostPort(x.t.spec.host, remote.port))));
  } else if (tlsErr.code === 'TIMEOUT') {
    x.add('tls', 'fail', `TCP connected, but the TLS handshake got no answer within ${Math.round(elapsed)} ms`,
      'something accepts TCP on this port but does not answer a TLS ClientHello: not a TLS server, a server still loading its certificate, or a proxy without a working backend');
  } else {
    x.add('tls', 'fail', `TCP connected, but the TLS handshake failed: ${plainTlsText(tlsErr.message)}`, x.hint(TLS_HANDSHAKE_FAILED));
  }
}
