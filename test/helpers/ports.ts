import dgram from 'node:dgram';
import net from 'node:net';

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * A base port such that base..base+span-1 are free for UDP and TCP on every
 * host given. For servers (like coturn) that cannot bind port 0 and report it.
 */
export async function findFreePortRange(span: number, hosts: string[] = ['127.0.0.1']): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 35000);
    let ok = true;
    for (let p = base; p < base + span && ok; p++) {
      for (const h of hosts) {
        if (!(await udpFree(p, h)) || !(await tcpFree(p, h))) { ok = false; break; }
      }
    }
    if (ok) return base;
  }
  throw new Error('no free port range found');
}
