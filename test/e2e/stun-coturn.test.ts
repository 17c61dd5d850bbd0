import { afterAll, beforeAll, expect, it } from 'vitest';
import type { StunJson } from '../../src/commands/stun.js';
import { runCli, runJson, why } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { describeWith } from '../helpers/system.js';
import { makeTestCert, type TestCert } from '../helpers/tls.js';

describeWith({ commands: ['turnserver', 'openssl'] }, 'rtcprobe stun against coturn on loopback', () => {
  let coturn: Coturn;
  let tls: TestCert;
  let cert: string;

  beforeAll(async () => {
    tls = makeTestCert('DNS:localhost,IP:127.0.0.1');
    cert = tls.cert;
    // Two listening addresses: coturn then supports RFC 5780 (OTHER-ADDRESS).
    coturn = await startCoturn({ ips: ['127.0.0.1', '127.0.0.2'], stunOnly: true, tls: { cert, key: tls.key } });
  });

  afterAll(async () => {
    await coturn?.stop();
    tls?.remove();
  });

  it('UDP: mapped address equals the local address on loopback; RFC 5780 and SOFTWARE are reported', async () => {
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${coturn.port}`, '--count', '5', '--interval', '0']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json.ok).toBe(true);
    const s = r.json.servers[0]!;
    expect(s.ok).toBe(true);
    expect(s.transport).toBe('udp');
    expect(s.mappedAddress).toEqual({ family: 4, address: '127.0.0.1', port: s.localAddress!.port });
    expect(s.responseOrigin).toEqual({ family: 4, address: '127.0.0.1', port: coturn.port });
    expect(s.rfc5780).toBe(true);
    expect(s.otherAddress?.address).toBe('127.0.0.2');
    // An RFC 5780 server is not classic, whatever else it sends.
    expect(s.classic).toBe(false);
    expect(s.mappedAddressClass).toBe('loopback');
    expect(s.software).toMatch(/Coturn/i);
    expect(s.sent).toBe(5);
    expect(s.received).toBe(5);
    expect(s.loss).toBe(0);
    expect(s.error).toBeNull();
    expect(s.rtt!.min).toBeGreaterThan(0);
    expect(s.rtt!.min).toBeLessThanOrEqual(s.rtt!.median);
    expect(s.rtt!.median).toBeLessThanOrEqual(s.rtt!.p95);
    expect(s.rtt!.p95).toBeLessThanOrEqual(s.rtt!.max);
    expect(r.stderr).toBe('');
  });

  it('queries several servers in parallel and says whether they agree', async () => {
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${coturn.port}`, `stun:127.0.0.2:${coturn.port}`, '--count', '2']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json.verdict).toMatchObject({ answered: 2, total: 2, publicAddresses: ['127.0.0.1'], agree: true, addresses: [{ address: '127.0.0.1', class: 'loopback' }] });
  });

  it('TCP transport', async () => {
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${coturn.port}`, '--transport', 'tcp', '--count', '3']);
    expect(r.code, why(r)).toBe(0);
    const s = r.json.servers[0]!;
    expect(s.transport).toBe('tcp');
    expect(s.mappedAddress?.port).toBe(s.localAddress!.port);
    expect(s.received).toBe(3);
  });

  it('TLS with a trusted CA (stuns: URI, name checked)', async () => {
    const r = await runJson<StunJson>(['stun', `stuns:localhost:${coturn.tlsPort}`, '--ca', cert, '--count', '2']);
    expect(r.code, why(r)).toBe(0);
    const s = r.json.servers[0]!;
    expect(s.transport).toBe('tls');
    expect(s.ok).toBe(true);
    expect(s.tls?.authorized).toBe(true);
  });

  it('TLS with an untrusted certificate fails with TLS, unless --insecure', async () => {
    const bad = await runJson<StunJson>(['stun', `stuns:localhost:${coturn.tlsPort}`, '--count', '1']);
    expect(bad.code).toBe(1);
    expect(bad.json.servers[0]!.error?.code).toBe('TLS');
    const insecure = await runJson<StunJson>(['stun', `stuns:localhost:${coturn.tlsPort}`, '--insecure', '--count', '1']);
    expect(insecure.code).toBe(0);
    expect(insecure.json.servers[0]!.tls?.authorized).toBe(false);
  });

  it('stuns: at a plain TCP port fails with the TLS error in plain words, no OpenSSL source positions', async () => {
    // Without a certificate coturn speaks no TLS at all (with one, it detects TLS on every port).
    // It holds the ClientHello about 3 s before it resets: the timeout leaves room for that.
    const plain = await startCoturn({ stunOnly: true });
    try {
      const r = await runJson<StunJson>(['stun', `stuns:127.0.0.1:${plain.port}`, '--count', '1', '--timeout', '10000']);
      expect(r.code, why(r)).toBe(1);
      const s = r.json.servers[0]!;
      expect(s.transport).toBe('tls');
      expect(s.ok).toBe(false);
      expect(s.error?.message).toMatch(/not TLS|closed the connection during the TLS handshake/);
      expect(s.error?.message).not.toMatch(/\.c:\d+|deps\/openssl|:error:[0-9A-F]+:/i);
      const human = await runCli(['stun', `stuns:127.0.0.1:${plain.port}`, '--count', '1', '--timeout', '10000']);
      expect(human.code).toBe(1);
      expect(human.stdout + human.stderr).not.toMatch(/\.c:\d+|deps\/openssl/);
    } finally {
      await plain.stop();
    }
  });

  it('IPv6 on ::1 when coturn listens there', async () => {
    const v6 = await startCoturn({ ips: ['::1'], stunOnly: true });
    try {
      const r = await runJson<StunJson>(['stun', `[::1]:${v6.port}`, '--family', '6', '--count', '2']);
      expect(r.code, why(r)).toBe(0);
      expect(r.json.servers[0]!.mappedAddress?.address).toBe('::1');
      // An IPv6 literal against an explicit --family 4 is a usage error, before any packet.
      const wrongFamily = await runCli(['stun', `[::1]:${v6.port}`, '--family', '4', '--count', '1']);
      expect(wrongFamily.code).toBe(2);
      expect(wrongFamily.stderr).toMatch(/USAGE: ::1 is an IPv6 address, but --family 4 was given/);
    } finally {
      await v6.stop();
    }
  });

  it('human output puts the verdict first and has no colour when piped', async () => {
    const r = await runCli(['stun', `127.0.0.1:${coturn.port}`, '--count', '1']);
    expect(r.code, why(r)).toBe(0);
    // A loopback mapped address is not a public address: labelled by its class.
    expect(r.stdout.split('\n')[0]).toMatch(/^⚠ Loopback address 127\.0\.0\.1: 1\/1 server\(s\) answered/);
    expect(r.stdout).not.toMatch(/Public address/);
    expect(r.stdout).not.toContain('\u001b[');
  });

  it('a dead server and a live one: per-server error, exit 0 while one answers', async () => {
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${coturn.port}`, `127.0.0.1:${coturn.relayMax}`, '--count', '1']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json.verdict.answered).toBe(1);
    expect(r.json.servers[1]!.error?.code).toBe('UNREACHABLE');
  });
});
