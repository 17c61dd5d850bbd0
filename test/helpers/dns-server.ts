import dgram from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import { encodeAddress } from '../../src/core/stun/attributes.js';

/** Records the local DNS server answers with. Names are ASCII, without the final dot. */
export type DnsRecord =
  | { name: string; type: 'A'; address: string }
  | { name: string; type: 'AAAA'; address: string }
  | { name: string; type: 'SRV'; priority: number; weight: number; port: number; target: string };

export interface DnsServer {
  /** `127.0.0.1:port`, for --dns-server and Resolver#setServers. */
  address: string;
  port: number;
  /** Every question asked, as `name TYPE`. */
  queries: string[];
  close(): Promise<void>;
}

const TYPES: Record<number, DnsRecord['type']> = { 1: 'A', 28: 'AAAA', 33: 'SRV' };
const CODES = { A: 1, AAAA: 28, SRV: 33 } as const;

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter((p) => p !== '');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

function rdata(r: DnsRecord): Buffer {
  if (r.type === 'A' || r.type === 'AAAA') return encodeAddress({ address: r.address, port: 0 }).subarray(4);
  const head = Buffer.alloc(6);
  head.writeUInt16BE(r.priority, 0);
  head.writeUInt16BE(r.weight, 2);
  head.writeUInt16BE(r.port, 4);
  return Buffer.concat([head, encodeName(r.target)]);
}

/**
 * A tiny authoritative DNS server on 127.0.0.1 (UDP) for tests: answers A,
 * AAAA and SRV questions from a fixed table, NXDOMAIN for unknown names, and
 * an empty NOERROR answer for a known name without the asked type.
 */
export async function startDnsServer(records: DnsRecord[]): Promise<DnsServer> {
  for (const r of records) {
    if (r.type === 'A' && !isIPv4(r.address)) throw new Error(`bad A ${r.address}`);
    if (r.type === 'AAAA' && !isIPv6(r.address)) throw new Error(`bad AAAA ${r.address}`);
  }
  const sock = dgram.createSocket('udp4');
  const queries: string[] = [];
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const id = msg.readUInt16BE(0);
    // Question: labels, then QTYPE and QCLASS.
    let off = 12;
    const labels: string[] = [];
    while (off < msg.length && msg[off] !== 0) {
      const len = msg[off]!;
      labels.push(msg.subarray(off + 1, off + 1 + len).toString('ascii'));
      off += 1 + len;
    }
    off++;
    if (off + 4 > msg.length) return;
    const qtype = msg.readUInt16BE(off);
    const question = msg.subarray(12, off + 4);
    const name = labels.join('.').toLowerCase();
    const type = TYPES[qtype];
    queries.push(`${name} ${type ?? qtype}`);
    const known = records.filter((r) => r.name.toLowerCase() === name);
    const answers = known.filter((r) => r.type === type);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(id, 0);
    // QR, AA, RD copied, RA; RCODE 3 (NXDOMAIN) when the name is unknown.
    header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | (known.length === 0 ? 3 : 0), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const rrs = answers.map((r) => {
      const data = rdata(r);
      const fixed = Buffer.alloc(12);
      fixed.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      fixed.writeUInt16BE(CODES[r.type], 2);
      fixed.writeUInt16BE(1, 4); // class IN
      fixed.writeUInt32BE(60, 6);
      fixed.writeUInt16BE(data.length, 10);
      return Buffer.concat([fixed, data]);
    });
    sock.send(Buffer.concat([header, question, ...rrs]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    queries,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}
