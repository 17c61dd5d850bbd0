/**
 * Stage 6 (--tcp-relay): an RFC 6062 TCP allocation over a TCP or TLS
 * connection, a Connect toward a TCP listener of ours, ConnectionBind on a
 * second connection and bytes echoed through it (the measurement is
 * ../tcp-relay.ts). Rows: tcp-allocate, tcp-connect, tcp-relay-data.
 */
import { toRtcprobeError } from '../../errors.js';
import { ErrorCodes } from '../../stun/constants.js';
import { classifyAddress } from '../addresses.js';
import { TurnErrorResponse, type TurnClient } from '../client.js';
import { addr, errText, isCode, type ServerCheck } from '../context.js';
import { NO_TCP_RELAY } from '../hints.js';
import { measureTcpRelay, TcpRelayError } from '../tcp-relay.js';

export async function tcpRelayProbe(x: ServerCheck): Promise<void> {
  const remote = x.remote!;
  const skipData = (why: string) => {
    x.add('tcp-connect', 'skip', why);
    x.add('tcp-relay-data', 'skip', why);
  };
  if (x.transport === 'udp') {
    x.add('tcp-allocate', 'skip', 'RFC 6062 TCP allocations need a TCP or TLS connection to the server');
    skipData('not run: no TCP allocation');
    return;
  }
  let c: TurnClient | undefined;
  try {
    c = await x.open(x.t.credentials);
    let r;
    try {
      r = await c.allocate({ relayTransport: 'tcp' });
    } catch (err) {
      x.add('tcp-allocate', 'warn', `RFC 6062 TCP allocation refused: ${errText(err)}`, isCode(err, ErrorCodes.UnsupportedTransportProtocol) ? x.hint(NO_TCP_RELAY) : '');
      skipData('not run: no TCP allocation');
      return;
    }
    x.add('tcp-allocate', 'pass', `RFC 6062 TCP allocation: relayed address ${addr(r.relayed)}`);
    // Connect toward a TCP listener of ours, ConnectionBind on a second connection, then bytes echoed by the listener.
    x.progress('relaying over TCP (RFC 6062)');
    try {
      const d = await measureTcpRelay(c, {
        remote,
        tls: x.transport === 'tls',
        ...(x.t.spec.host !== remote.address ? { servername: x.t.spec.host } : {}),
        ...(x.o.ca ? { ca: x.o.ca } : {}),
        peerAddress: c.local.address,
        bytes: 16384,
        timeout: x.o.timeout,
        ...x.signalOption,
      });
      x.add('tcp-connect', 'pass', `Connect toward our TCP listener on ${c.local.address} granted CONNECTION-ID ${d.connectionId}${d.peerSaw ? `; the relay connected from ${addr(d.peerSaw)}` : ''}`);
      if (d.echoed === d.sent) x.add('tcp-relay-data', 'pass', `ConnectionBind accepted; ${d.sent} bytes echoed through the relayed TCP connection in ${d.durationMs} ms`);
      else x.add('tcp-relay-data', 'fail', `ConnectionBind accepted, but only ${d.echoed} of ${d.sent} bytes came back through the relayed TCP connection`, 'the relayed TCP connection stalls: check the server log');
    } catch (err) {
      const e = err instanceof TcpRelayError ? err : undefined;
      const inner = e?.inner ?? toRtcprobeError(err);
      if (inner.code === 'ABORTED') throw inner;
      const what = e && inner instanceof TurnErrorResponse ? inner.message : `${inner.code}: ${inner.message}`;
      if (!e || e.stage === 'permission' || e.stage === 'connect') {
        const loop = classifyAddress(c.local.address) === 'loopback';
        if (loop && inner instanceof TurnErrorResponse) {
          x.add('tcp-connect', 'skip', `the server refuses our loopback address as a peer (${what}), which is the safe setting: the TCP relay path cannot be exercised on this host`);
        } else {
          x.add('tcp-connect', 'fail', `Connect toward our TCP listener on ${c.local.address} failed: ${what}`,
            isCode(inner, ErrorCodes.ConnectionTimeoutOrFailure) ? 'the relay could not open a TCP connection to the peer (447): a firewall on the TURN host or in front of this machine blocks it' : 'see the server log');
        }
        x.add('tcp-relay-data', 'skip', 'not run: no connection to the peer');
      } else {
        x.add('tcp-connect', 'pass', 'Connect toward our TCP listener granted a CONNECTION-ID');
        x.add('tcp-relay-data', 'fail', `${e.stage === 'bind' ? 'ConnectionBind' : 'relayed TCP data'} failed: ${what}`, e.stage === 'bind' ? 'the server did not bind the data connection to the peer connection (RFC 6062 §5.3)' : 'the relayed TCP connection carried no data back');
      }
    }
    await c.deallocate().catch(() => {});
  } catch (err) {
    x.add('tcp-allocate', 'warn', `RFC 6062 TCP allocation failed: ${errText(err)}`);
    skipData('not run: no TCP allocation');
  } finally {
    c?.close();
  }
}
