// Free ports on loopback, checked by binding them (UDP and/or TCP) and letting go.
import dgram from 'node:dgram';
import net from 'node:net';

function udpFree(port, host) {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.once('error', () => { s.close(); resolve(0); });
    s.bind(port, host, () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function tcpFree(port, host) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(0));
    srv.listen(port, host, () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
}

/** A UDP port the kernel hands out on host (port 0), free at the time of the call. */
export async function freeUdpPort(host = '127.0.0.1') {
  const p = await udpFree(0, host);
  if (!p) throw new Error(`cannot bind a UDP port on ${host}`);
  return p;
}

/**
 * The first port of `span` consecutive ports that are all free, for every protocol in
 * `protocols` ('udp', 'tcp') on every host in `hosts`. Random bases in 20000..59999, so that
 * two benches started at the same time are unlikely to pick the same range.
 */
export async function freePortRange(span, { hosts = ['127.0.0.1'], protocols = ['udp'], attempts = 200 } = {}) {
  for (let i = 0; i < attempts; i++) {
    const base = 20000 + Math.floor(Math.random() * (40000 - span));
    let ok = true;
    for (let p = base; p < base + span && ok; p++) {
      for (const host of hosts) {
        if (protocols.includes('udp') && !(await udpFree(p, host))) { ok = false; break; }
        if (protocols.includes('tcp') && !(await tcpFree(p, host))) { ok = false; break; }
      }
    }
    if (ok) return base;
  }
  throw new Error(`no ${span} consecutive free ports found`);
}

/**
 * Whether a STUN server answers one Binding request on UDP (host, port) within
 * 200 ms: how a bench waits for the coturn it started to be ready.
 */
export function stunPing(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0); // Binding request, no attributes
    req.writeUInt32BE(0x2112a442, 4); // magic cookie; the transaction id stays zero
    const t = setTimeout(() => { s.close(); resolve(false); }, 200);
    s.on('message', () => { clearTimeout(t); s.close(); resolve(true); });
    s.on('error', () => {});
    s.send(req, port, host);
  });
}
