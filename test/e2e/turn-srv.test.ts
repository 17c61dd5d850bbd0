import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TurnJson } from '../../src/commands/turn.js';
import { runCli, runJson, why } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { describeWith } from '../helpers/system.js';
import { makeTestCert, type TestCert } from '../helpers/tls.js';

// RFC 7065 SRV lookups for turn:/turns: URIs, answered by a DNS server of our own on
// loopback (--dns-server): no query reaches the system resolver or the Internet.
describeWith({ commands: ['turnserver', 'openssl'] }, 'rtcprobe turn: DNS SRV (RFC 7065)', () => {
  let coturn: Coturn;
  let dns: DnsServer;
  let cert: TestCert;
  const creds = ['--user', 'srv', '--password', 'srv-password-1'];
  beforeAll(async () => {
    // The certificate names the domain of the URI, not the SRV target: TLS must check that name.
    cert = makeTestCert('DNS:relay.test');
    coturn = await startCoturn({ users: [{ user: 'srv', password: 'srv-password-1' }], tls: { cert: cert.cert, key: cert.key }, args: ['--allow-loopback-peers'] });
    dns = await startDnsServer([
      { name: '_turn._udp.relay.test', type: 'SRV', priority: 10, weight: 1, port: coturn.port, target: 'coturn.test' },
      { name: '_turns._tcp.relay.test', type: 'SRV', priority: 10, weight: 1, port: coturn.tlsPort, target: 'coturn.test' },
      // Priority 1 is tried first, but has no address: the next target is used.
      { name: '_turn._tcp.relay.test', type: 'SRV', priority: 1, weight: 1, port: 9, target: 'gone.test' },
      { name: '_turn._tcp.relay.test', type: 'SRV', priority: 10, weight: 1, port: coturn.port, target: 'coturn.test' },
      { name: 'coturn.test', type: 'A', address: '127.0.0.1' },
      { name: 'relay.test', type: 'A', address: '127.0.0.1' },
      { name: 'plain.test', type: 'A', address: '127.0.0.1' },
      { name: 'gone.test', type: 'AAAA', address: '::1' },
    ]);
  });
  afterAll(async () => {
    await coturn?.stop();
    await dns?.close();
    cert?.remove();
  });

  it('turn:relay.test follows _turn._udp to the SRV target and port, and the server works', async () => {
    const r = await runJson<TurnJson>(['turn', 'turn:relay.test', ...creds, '--dns-server', dns.address, '-c', '5']);
    expect(r.code, r.stdout).toBe(0);
    const s = r.json.servers[0]!;
    expect(s.srv).toMatchObject({ query: '_turn._udp.relay.test', fallback: false, target: { host: 'coturn.test', port: coturn.port } });
    expect(s.resolved).toBe('127.0.0.1');
    expect(s.port).toBe(coturn.port);
    const row = r.json.checks.find((c) => c.id === 'udp.dns')!;
    expect(row.status).toBe('pass');
    expect(row.detail).toContain(`SRV _turn._udp.relay.test -> coturn.test:${coturn.port}`);
    expect(dns.queries).toContain('_turn._udp.relay.test SRV');
    expect(dns.queries).toContain('coturn.test A');
    // The human output shows the same row.
    const human = await runCli(['turn', 'turn:relay.test', ...creds, '--dns-server', dns.address, '-c', '5']);
    expect(human.stdout).toMatch(new RegExp(`udp\\.dns\\s+SRV _turn._udp.relay.test -> coturn.test:${coturn.port}`));
  });

  it('?transport=tcp asks _turn._tcp and skips a target without an address', async () => {
    const r = await runJson<TurnJson>(['turn', 'turn:relay.test?transport=tcp', ...creds, '--dns-server', dns.address, '-c', '5']);
    expect(r.code, r.stdout).toBe(0);
    const s = r.json.servers[0]!;
    expect(s.srv?.records.map((x) => x.name)).toEqual(['gone.test', 'coturn.test']);
    expect(s.srv?.target).toEqual({ host: 'coturn.test', port: coturn.port });
    expect(r.json.checks.find((c) => c.id === 'tcp.dns')!.detail).toMatch(/gone\.test:9: DNS/);
  });

  it('turns:relay.test asks _turns._tcp and checks the certificate against relay.test, not the SRV target', async () => {
    const r = await runJson<TurnJson>(['turn', 'turns:relay.test', ...creds, '--dns-server', dns.address, '--ca', cert.cert, '-c', '5']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.servers[0]!.srv).toMatchObject({ query: '_turns._tcp.relay.test', target: { host: 'coturn.test', port: coturn.tlsPort } });
    const tls = r.json.checks.find((c) => c.id === 'tls.tls')!;
    expect(tls.status).toBe('pass');
    expect(tls.detail).toContain('chain and name verified');
  });

  it('no SRV record: the host itself with the default port, and the row says so', async () => {
    const r = await runJson<TurnJson>(['turn', 'turn:plain.test', ...creds, '--dns-server', dns.address, '-t', '1000']);
    const s = r.json.servers[0]!;
    expect(s.srv).toMatchObject({ query: '_turn._udp.plain.test', fallback: true, error: 'no such name (NXDOMAIN)' });
    expect(s.srv?.target).toBeUndefined();
    expect(s.resolved).toBe('127.0.0.1');
    expect(s.port).toBe(3478);
    const row = r.json.checks.find((c) => c.id === 'udp.dns')!;
    expect(row.status).toBe('pass');
    expect(row.detail).toBe('no SRV (_turn._udp.plain.test: no such name (NXDOMAIN)), default port 3478; plain.test is 127.0.0.1');
    expect(dns.queries).toContain('plain.test A');
  });

  it('--no-srv: no SRV question, the default port', async () => {
    const before = dns.queries.length;
    const r = await runJson<TurnJson>(['turn', 'turn:relay.test', ...creds, '--dns-server', dns.address, '--no-srv', '-t', '1000']);
    const asked = dns.queries.slice(before);
    expect(asked).toEqual(['relay.test A']);
    expect(r.json.servers[0]!.srv).toBeUndefined();
    expect(r.json.servers[0]!.port).toBe(3478);
    expect(r.json.checks.find((c) => c.id === 'udp.dns')!.detail).toBe('relay.test is 127.0.0.1');
  });

  it('an explicit port or an IP literal asks no SRV', async () => {
    const before = dns.queries.length;
    const r = await runJson<TurnJson>(['turn', `turn:relay.test:${coturn.port}`, `turn:127.0.0.1:${coturn.port}`, ...creds, '--dns-server', dns.address, '-c', '5']);
    expect(r.code, r.stdout).toBe(0);
    expect(dns.queries.slice(before)).toEqual(['relay.test A']);
    expect(r.json.servers.map((s) => s.srv)).toEqual([undefined, undefined]);
  });

  it('a bad --dns-server is a usage error', async () => {
    const r = await runCli(['turn', 'turn:relay.test', ...creds, '--dns-server', 'dns.example']);
    expect(r.code, why(r)).toBe(2);
    expect(r.stderr).toMatch(/--dns-server "dns.example" is not an IP address/);
  });
});
