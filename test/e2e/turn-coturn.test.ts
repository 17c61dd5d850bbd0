import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TurnJson } from '../../src/commands/turn.js';
import { runCli, runJson, why } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { findFreePortRange } from '../helpers/ports.js';
import { describeWith } from '../helpers/system.js';
import { makeTestCert, type TestCert } from '../helpers/tls.js';

const USER = 'operator';
const PASSWORD = 'correct-horse-battery';
const SECRET = 'rest-shared-secret-42';

type Row = TurnJson['checks'][number];

function row(j: TurnJson, id: string): Row {
  const r = j.checks.find((c) => c.id === id);
  if (!r) throw new Error(`no check "${id}" in ${j.checks.map((c) => c.id).join(', ')}`);
  return r;
}

function expectNoSecrets(stdout: string, ...secrets: string[]): void {
  for (const s of secrets) expect(stdout).not.toContain(s);
}

const HARDENED = [
  '--denied-peer-ip', '10.0.0.0-10.255.255.255',
  '--denied-peer-ip', '172.16.0.0-172.31.255.255',
  '--denied-peer-ip', '192.168.0.0-192.168.255.255',
  '--denied-peer-ip', '100.64.0.0-100.127.255.255',
  '--denied-peer-ip', '169.254.0.0-169.254.255.255',
  '--denied-peer-ip', '0.0.0.0-0.255.255.255',
];

describeWith({ commands: ['turnserver'] }, 'rtcprobe turn against coturn with long-term users', () => {
  let loose: Coturn; // loopback peers allowed: the relayed path can be measured, and --security must flag it
  let hardened: Coturn; // coturn defaults plus denied-peer-ip for every special range

  beforeAll(async () => {
    loose = await startCoturn({ users: [{ user: USER, password: PASSWORD }], realm: 'probe.test', args: ['--allow-loopback-peers'] });
    hardened = await startCoturn({ users: [{ user: USER, password: PASSWORD }], realm: 'probe.test', args: HARDENED });
  });
  afterAll(async () => {
    await loose?.stop();
    await hardened?.stop();
  });

  it('UDP and TCP: challenge, auth, allocation, relayed path over indications and channels, refresh, rebind 400, deallocate', async () => {
    const r = await runJson<TurnJson>([
      'turn', `turn:127.0.0.1:${loose.port}`, `turn:127.0.0.1:${loose.port}?transport=tcp`,
      '--user', USER, '--password', PASSWORD, '--count', '40', '--rate', '200',
    ], { timeout: 90000 });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.summary.fail).toBe(0);
    for (const t of ['udp', 'tcp']) {
      for (const id of ['dns', 'reach', 'auth-challenge', 'auth', 'allocate', 'permission', 'relay-indication', 'channel-bind', 'relay-channel', 'channel-rebind', 'refresh', 'deallocate']) {
        expect(row(r.json, `${t}.${id}`).status, `${t}.${id}: ${row(r.json, `${t}.${id}`).detail}`).toBe('pass');
      }
    }
    expect(row(r.json, 'udp.auth-challenge').detail).toContain('REALM "probe.test"');
    expect(row(r.json, 'udp.allocate').detail).toMatch(/relayed address 127\.0\.0\.1:\d+/);
    expect(row(r.json, 'udp.channel-rebind').detail).toContain('400');
    const relay = r.json.relay!;
    expect(relay.address).toMatch(/^127\.0\.0\.1:(\d+)$/);
    const port = Number(relay.address.split(':')[1]);
    expect(port).toBeGreaterThanOrEqual(loose.relayMin);
    expect(port).toBeLessThanOrEqual(loose.relayMax);
    expect(relay.loss).toBe(0);
    expect(relay.rtt!.min).toBeGreaterThan(0);
    expect(relay.rtt!.min).toBeLessThanOrEqual(relay.rtt!.median);
    expect(relay.rtt!.median).toBeLessThanOrEqual(relay.rtt!.p95);
    expect(relay.rtt!.p95).toBeLessThanOrEqual(relay.rtt!.p99);
    expect(relay.rtt!.p99).toBeLessThanOrEqual(relay.rtt!.max);
    // Jitter is a mean of differences between samples: never more than the spread of the samples.
    expect(relay.jitter).toBeGreaterThanOrEqual(0);
    expect(relay.jitter!).toBeLessThanOrEqual(relay.rtt!.max - relay.rtt!.min + 0.002);
    // Four measured paths: indications and channels over UDP and TCP, every message echoed.
    expect(r.json.paths.map((p) => p.mode).sort()).toEqual(['channel', 'channel', 'indication', 'indication']);
    for (const p of r.json.paths) expect([p.sent, p.received]).toEqual([40, 40]);
    expectNoSecrets(r.stdout, PASSWORD, USER);
    expect(r.stderr).toBe('');
  });

  it('--security flags a server that allows loopback (and private) peers, naming the coturn option', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${loose.port}`, '--user', USER, '--password', PASSWORD, '--security', '--count', '5'], { timeout: 90000 });
    expect(r.code, why(r)).toBe(1);
    expect(r.json.ok).toBe(false);
    const lo = row(r.json, 'security.127.0.0.1');
    expect(lo.status).toBe('fail');
    expect(lo.hint).toContain('allow-loopback-peers');
    expect(row(r.json, 'security.10.0.0.1').status).toBe('fail');
    expect(row(r.json, 'security.10.0.0.1').hint).toContain('denied-peer-ip');
    expect(row(r.json, 'security.169.254.169.254').status).toBe('fail');
    // The test harness passes no-multicast-peers: multicast and the unspecified address are refused.
    expect(row(r.json, 'security.224.0.0.1').detail).toContain('403');
    expect(row(r.json, 'security.224.0.0.1').status).toBe('pass');
    expect(row(r.json, 'security.0.0.0.0').status).toBe('pass');
    // The relay is IPv4 only: IPv6 peers (ULA, ::ffff: forms) cannot be reached at all.
    for (const v6 of ['::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1']) expect(row(r.json, `security.${v6}`).status).toBe('pass');
    expectNoSecrets(r.stdout, PASSWORD);
  });

  it('--security passes a hardened server; the loopback relay path is skipped with the reason', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${hardened.port}`, '--user', USER, '--password', PASSWORD, '--security'], { timeout: 90000 });
    expect(r.code, r.stdout).toBe(0);
    const security = r.json.checks.filter((c) => c.id.startsWith('security.'));
    expect(security.length).toBeGreaterThanOrEqual(15);
    for (const s of security) expect(s.status, `${s.id}: ${s.detail}`).toBe('pass');
    expect(row(r.json, 'security.127.0.0.1').detail).toContain('403');
    expect(row(r.json, 'security.10.0.0.1').detail).toContain('403');
    const perm = row(r.json, 'udp.permission');
    expect(perm.status).toBe('skip');
    expect(perm.detail).toMatch(/refuses loopback peers \(403\).*safe/);
    expect(row(r.json, 'udp.deallocate').status).toBe('pass');
  });

  it('--tcp-relay: RFC 6062 Connect to a listener of ours, ConnectionBind on a second connection, bytes echoed through the relay', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${loose.port}?transport=tcp`, '--user', USER, '--password', PASSWORD, '--count', '3', '--tcp-relay'], { timeout: 60000 });
    expect(r.code, r.stdout).toBe(0);
    expect(row(r.json, 'tcp.tcp-allocate').status).toBe('pass');
    expect(row(r.json, 'tcp.tcp-connect').status).toBe('pass');
    expect(row(r.json, 'tcp.tcp-connect').detail).toMatch(/granted CONNECTION-ID \d+; the relay connected from 127\.0\.0\.1:(\d+)/);
    const data = row(r.json, 'tcp.tcp-relay-data');
    expect(data.status).toBe('pass');
    expect(data.detail).toMatch(/ConnectionBind accepted; 16384 bytes echoed/);
    // A hardened server refuses the loopback listener as a peer: skipped, with the reason.
    const h = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${hardened.port}?transport=tcp`, '--user', USER, '--password', PASSWORD, '--count', '3', '--tcp-relay'], { timeout: 60000 });
    expect(row(h.json, 'tcp.tcp-connect').status).toBe('skip');
    expect(row(h.json, 'tcp.tcp-connect').detail).toMatch(/refuses our loopback address as a peer \(.*403/);
    expect(row(h.json, 'tcp.tcp-relay-data').status).toBe('skip');
  });

  it('a wrong password is reported as rejected credentials, with exit 1', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${loose.port}`, '--user', USER, '--password', 'not-the-password'], { timeout: 60000 });
    expect(r.code, why(r)).toBe(1);
    expect(row(r.json, 'udp.auth-challenge').status).toBe('pass');
    const auth = row(r.json, 'udp.auth');
    expect(auth.status).toBe('fail');
    expect(auth.detail).toContain('the server rejected these credentials');
    expect(auth.hint).toMatch(/wrong user name or password/);
    expectNoSecrets(r.stdout, 'not-the-password', USER);
  });

  it('without credentials: the 401 challenge is checked, and the verdict says "not verified" with exit 1', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${loose.port}`], { timeout: 60000 });
    expect(r.code, why(r)).toBe(1);
    expect(r.json.ok).toBe(false);
    expect(r.json.verdict).toBe('not-verified');
    expect(r.json.unverified[0]!.reason).toMatch(/no credentials/);
    expect(row(r.json, 'udp.auth-challenge').status).toBe('pass');
    expect(row(r.json, 'udp.auth').status).toBe('skip');
    const human = await runCli(['turn', `turn:127.0.0.1:${loose.port}`, '--no-color']);
    expect(human.code).toBe(1);
    expect(human.stdout.split('\n')[0]).toMatch(/^⚠ TURN server reached, but not verified: no credentials were given, so no allocation or relay was tested/);
    expect(human.stdout).not.toMatch(/TURN server works/);
  });

  it('an --ice-servers entry without username and credential: not verified, and the skip row blames the entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-ice-'));
    try {
      const file = join(dir, 'ice.json');
      writeFileSync(file, JSON.stringify([{ urls: `turn:127.0.0.1:${loose.port}` }]));
      const r = await runJson<TurnJson>(['turn', '--ice-servers', file], { timeout: 60000 });
      expect(r.code, why(r)).toBe(1);
      expect(r.json.verdict).toBe('not-verified');
      const auth = row(r.json, 'udp.auth');
      expect(auth.status).toBe('skip');
      expect(auth.detail).toMatch(/iceServers entry of this URL has no username and credential/);
      expect(auth.detail).not.toMatch(/--ice-servers\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('flags and files win over the environment', async () => {
    // A REST secret in the environment does not collide with an explicit --user/--password.
    const a = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${loose.port}`, '-u', USER, '-p', PASSWORD, '--count', '3'], { env: { RTCPROBE_TURN_SECRET: 'stale-secret-from-env' }, timeout: 60000 });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(row(a.json, 'udp.auth').status).toBe('pass');
    expect(a.json.checks.some((c) => c.id === 'credentials.expiry')).toBe(false);
    // A password in the environment without --user does not stop a file that brings its own credentials.
    const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-ice-'));
    try {
      const file = join(dir, 'ice.json');
      writeFileSync(file, JSON.stringify([{ urls: `turn:127.0.0.1:${loose.port}`, username: USER, credential: PASSWORD }]));
      const b = await runJson<TurnJson>(['turn', '--ice-servers', file, '--count', '3'], { env: { RTCPROBE_TURN_PASSWORD: 'env-password' }, timeout: 60000 });
      expect(b.code, b.stdout + b.stderr).toBe(0);
      expect(row(b.json, 'udp.auth').status).toBe('pass');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The environment is still used when nothing explicit is given.
    const c = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${loose.port}`, '-u', USER, '--count', '3'], { env: { RTCPROBE_TURN_PASSWORD: PASSWORD }, timeout: 60000 });
    expect(c.code, c.stdout + c.stderr).toBe(0);
    // A variable that cannot be used is named.
    const d = await runCli(['turn', `turn:127.0.0.1:${loose.port}`], { env: { RTCPROBE_TURN_PASSWORD: PASSWORD } });
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/RTCPROBE_TURN_PASSWORD is set but no --user/);
  });

  it('the headline names the warnings it found', async () => {
    const r = await runCli(['turn', `turn:127.0.0.1:${loose.port}`, '--user', USER, '--password', PASSWORD, '--count', '3', '--quota', '1', '--no-color'], { timeout: 60000 });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('⚠ TURN server works, with 1 warning: no allocation quota');
    const j = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${loose.port}`, '--user', USER, '--password', PASSWORD, '--count', '3', '--quota', '1'], { timeout: 60000 });
    expect(j.json.warnings).toEqual(['no allocation quota']);
    expect(row(j.json, 'quota').label).toBe('no allocation quota');
  });

  it('turns: at coturn\'s plain port: the port answers STUN in the clear, so the hint says it does not speak TLS', async () => {
    const r = await runJson<TurnJson>(['turn', `turns:127.0.0.1:${loose.port}`, '--user', USER, '--password', PASSWORD, '--timeout', '1500'], { timeout: 60000 });
    expect(r.code, why(r)).toBe(1);
    expect(row(r.json, 'tls.reach').status).toBe('pass');
    const tls = row(r.json, 'tls.tls');
    expect(tls.status).toBe('fail');
    expect(tls.detail).toMatch(/the port does not speak TLS/);
    expect(tls.detail).toMatch(/STUN request in the clear was answered/);
    expect(tls.hint).toContain(`turn:127.0.0.1:${loose.port}?transport=tcp`);
    expect(tls.hint).not.toMatch(/check that the server is up/);
  });

  it('an iceServers file that starts with a UTF-8 byte order mark is read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-ice-'));
    try {
      const file = join(dir, 'ice.json');
      writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify([{ urls: `turn:127.0.0.1:${loose.port}`, username: USER, credential: PASSWORD }]))]));
      const r = await runJson<TurnJson>(['turn', '--ice-servers', file, '--count', '3'], { timeout: 60000 });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(row(r.json, 'udp.auth').status).toBe('pass');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--ice-servers: every turn: URL of the file is checked with its own credentials', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-ice-'));
    try {
      const file = join(dir, 'ice.json');
      writeFileSync(file, JSON.stringify({
        iceServers: [
          { urls: 'stun:127.0.0.1:3478' },
          { urls: [`turn:127.0.0.1:${loose.port}?transport=udp`, `turn:127.0.0.1:${loose.port}?transport=tcp`], username: USER, credential: PASSWORD },
        ],
      }));
      const r = await runJson<TurnJson>(['turn', '--ice-servers', file, '--count', '5'], { timeout: 90000 });
      expect(r.code, r.stdout).toBe(0);
      expect(row(r.json, 'udp.auth').status).toBe('pass');
      expect(row(r.json, 'tcp.auth').status).toBe('pass');
      expect(r.json.checks.some((c) => c.server?.startsWith('stun:'))).toBe(false);
      expectNoSecrets(r.stdout, PASSWORD);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeWith({ commands: ['turnserver'] }, 'rtcprobe turn --bandwidth against coturn', () => {
  let limited: Coturn;
  beforeAll(async () => {
    // max-bps is bytes per second per session: 250 000 B/s is 2 Mbit/s.
    limited = await startCoturn({ users: [{ user: USER, password: PASSWORD }], args: ['--allow-loopback-peers', '--max-bps', '250000'] });
  });
  afterAll(async () => {
    await limited?.stop();
  });

  it('finds where loss begins under coturn\'s max-bps, starting low and reporting the best rate reached', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${limited.port}`, '--user', USER, '--password', PASSWORD, '--count', '5', '--bandwidth', '--bandwidth-max', '20000'], { timeout: 120000 });
    expect(r.code, r.stdout).toBe(0);
    const bw = r.json.bandwidth[0]!;
    expect(bw.lossThreshold).toBe(0.01);
    expect(bw.size).toBe(1000);
    expect(bw.steps[0]!.targetBps).toBe(100_000);
    expect(bw.stoppedBy).toBe('loss');
    // The best passing rate is real traffic within the limit, and loss began above it.
    expect(bw.bestBps).toBeGreaterThan(50_000);
    // coturn enforces max-bps over its own accounting windows, so a step of up to twice the limit can pass;
    // without the limit the search goes beyond 100 Mbit/s on this host.
    expect(bw.bestBps).toBeLessThanOrEqual(4_400_000);
    expect(bw.lossStartBps).toBeGreaterThan(bw.steps[0]!.targetBps);
    expect(bw.lossStartBps).toBeLessThanOrEqual(12_800_000);
    const rowBw = row(r.json, 'udp.bandwidth');
    expect(rowBw.status).toBe('pass');
    expect(rowBw.detail).toMatch(/highest relayed rate with loss <= 1%: [\d.]+ (k|M)bit\/s each way; loss began when [\d.]+ (k|M)bit\/s was sent/);
    const human = await runCli(['turn', `turn:127.0.0.1:${limited.port}`, '--user', USER, '--password', PASSWORD, '--count', '5', '--bandwidth', '--bandwidth-max', '400', '--no-color'], { timeout: 120000 });
    // A 400 kbit/s ceiling is below the limit: no loss up to the highest rate tried.
    expect(human.stdout).toMatch(/relayed bandwidth via turn:127\.0\.0\.1:\d+: \d+ kbit\/s each way with loss <= 1%/);
    expect(human.stdout).toMatch(/no loss up to the highest rate tried, 400 kbit\/s/);
  }, 120000);
});

describeWith({ commands: ['turnserver'] }, 'rtcprobe turn against coturn with a REST API secret', () => {
  let coturn: Coturn;
  beforeAll(async () => {
    coturn = await startCoturn({ secret: SECRET, realm: 'rest.test', args: ['--allow-loopback-peers'] });
  });
  afterAll(async () => {
    await coturn?.stop();
  });

  it('--secret derives credentials that the server accepts; nothing secret is printed', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${coturn.port}`, '--secret', SECRET, '--user', 'webapp', '--ttl', '600', '--count', '10'], { timeout: 60000 });
    expect(r.code, r.stdout).toBe(0);
    expect(row(r.json, 'credentials.expiry').status).toBe('pass');
    expect(row(r.json, 'udp.auth').status).toBe('pass');
    expect(row(r.json, 'udp.relay-channel').status).toBe('pass');
    expectNoSecrets(r.stdout, SECRET, 'webapp');
  });

  it('expired REST credentials are called out before and by the server', async () => {
    const username = `${Math.floor(Date.now() / 1000) - 120}:webapp`;
    const password = createHmac('sha1', SECRET).update(username).digest('base64');
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${coturn.port}`, '--user', username, '--password', password], { timeout: 60000 });
    expect(r.code, why(r)).toBe(1);
    const exp = row(r.json, 'credentials.expiry');
    expect(exp.status).toBe('fail');
    expect(exp.detail).toMatch(/expired at .* 1[12]\d s ago/);
    const auth = row(r.json, 'udp.auth');
    expect(auth.status).toBe('fail');
    expect(auth.detail).toContain('the server rejected these credentials');
    expect(auth.hint).toContain('expired');
    expectNoSecrets(r.stdout, password, username);
  });

  it('a wrong --secret is told apart from clock skew', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${coturn.port}`, '--secret', 'some-other-secret'], { timeout: 60000 });
    expect(r.code, why(r)).toBe(1);
    const auth = row(r.json, 'udp.auth');
    expect(auth.status).toBe('fail');
    expect(auth.hint).toContain('is not the server\'s static-auth-secret');
    expectNoSecrets(r.stdout, 'some-other-secret');
  });
});

describeWith({ commands: ['turnserver', 'openssl'] }, 'rtcprobe turn over TLS (turns:)', () => {
  let coturn: Coturn;
  let tls: TestCert;
  let cert: string;
  beforeAll(async () => {
    tls = makeTestCert('DNS:localhost');
    cert = tls.cert;
    coturn = await startCoturn({ users: [{ user: USER, password: PASSWORD }], tls: { cert, key: tls.key }, args: ['--allow-loopback-peers'] });
  });
  afterAll(async () => {
    await coturn?.stop();
    tls?.remove();
  });

  it('a certificate trusted through --ca with a matching name passes, and the relay works over TLS', async () => {
    const r = await runJson<TurnJson>(['turn', `turns:localhost:${coturn.tlsPort}`, '--ca', cert, '--user', USER, '--password', PASSWORD, '--count', '10'], { timeout: 60000 });
    expect(r.code, r.stdout).toBe(0);
    const tls = row(r.json, 'tls.tls');
    expect(tls.status).toBe('pass');
    expect(tls.detail).toContain('CN=localhost');
    expect(row(r.json, 'tls.relay-channel').status).toBe('pass');
    expect(row(r.json, 'tls.deallocate').status).toBe('pass');
  });

  it('an untrusted certificate fails; --insecure lowers it to a warning and goes on', async () => {
    const bad = await runJson<TurnJson>(['turn', `turns:localhost:${coturn.tlsPort}`, '--user', USER, '--password', PASSWORD], { timeout: 60000 });
    expect(bad.code).toBe(1);
    expect(row(bad.json, 'tls.tls').status).toBe('fail');
    expect(row(bad.json, 'tls.tls').detail).toMatch(/NOT trusted/);
    expect(bad.json.checks.some((c) => c.id === 'tls.allocate')).toBe(false);

    const ok = await runJson<TurnJson>(['turn', `turns:localhost:${coturn.tlsPort}`, '--user', USER, '--password', PASSWORD, '--insecure', '--count', '5'], { timeout: 60000 });
    expect(ok.code, ok.stdout).toBe(0);
    expect(row(ok.json, 'tls.tls').status).toBe('warn');
    expect(row(ok.json, 'tls.auth').status).toBe('pass');
  });

  it('a certificate for another name fails the name check', async () => {
    const r = await runJson<TurnJson>(['turn', `turns:127.0.0.1:${coturn.tlsPort}`, '--ca', cert, '--user', USER, '--password', PASSWORD], { timeout: 60000 });
    expect(r.code, why(r)).toBe(1);
    // An IP literal is checked against the certificate's IP SANs; this one has none.
    expect(row(r.json, 'tls.tls').status).toBe('fail');
  });
});

describe('rtcprobe turn against a dead server', () => {
  it('UDP: no answer is a reachability failure; TCP: connection refused', async () => {
    const port = await findFreePortRange(1);
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${port}`, `turn:127.0.0.1:${port}?transport=tcp`, '--user', USER, '--password', PASSWORD, '--timeout', '1500'], { timeout: 60000 });
    expect(r.code, why(r)).toBe(1);
    const udp = row(r.json, 'udp.reach');
    expect(udp.status).toBe('fail');
    expect(udp.hint).toMatch(/turnserver running|no answer|port unreachable/i);
    const tcp = row(r.json, 'tcp.reach');
    expect(tcp.status).toBe('fail');
    expect(tcp.detail).toMatch(/refused|ECONNREFUSED/i);
    expect(r.json.checks.some((c) => c.id === 'udp.allocate')).toBe(false);
  });

  it('turns: to a port that does not speak TLS: the TCP connection works, the handshake fails', async () => {
    const srv = net.createServer((sock) => sock.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const port = (srv.address() as net.AddressInfo).port;
      const r = await runJson<TurnJson>(['turn', `turns:127.0.0.1:${port}`, '--user', USER, '--password', PASSWORD, '--timeout', '2000'], { timeout: 60000 });
      expect(r.code, why(r)).toBe(1);
      expect(row(r.json, 'tls.reach').status).toBe('pass');
      const tls = row(r.json, 'tls.tls');
      expect(tls.status).toBe('fail');
      expect(tls.detail).toMatch(/TCP connected, but the TLS handshake failed: the server answered with something that is not TLS/);
      expect(r.stdout).not.toMatch(/openssl|\.c:\d+|ssl3_/);
      // Nothing says this server is coturn: the hint names no coturn option.
      expect(tls.hint).toContain('is this the TLS port');
      expect(tls.hint).not.toMatch(/coturn|tls-listening-port/);
    } finally {
      srv.close();
    }
  });

  it('turns: to a port that accepts TCP and stays silent: TCP connected, the TLS handshake got no answer', async () => {
    const held: net.Socket[] = [];
    const srv = net.createServer((sock) => { held.push(sock); });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const port = (srv.address() as net.AddressInfo).port;
      const r = await runJson<TurnJson>(['turn', `turns:127.0.0.1:${port}`, '--user', USER, '--password', PASSWORD, '--timeout', '1000'], { timeout: 60000 });
      expect(r.code, why(r)).toBe(1);
      expect(row(r.json, 'tls.reach').status).toBe('pass');
      const tls = row(r.json, 'tls.tls');
      expect(tls.status).toBe('fail');
      expect(tls.detail).toMatch(/TCP connected, but the TLS handshake got no answer/);
      expect(tls.hint).not.toMatch(/firewall|host is down/);
    } finally {
      for (const s of held) s.destroy();
      srv.close();
    }
  });
});

describeWith({ commands: ['turnserver'] }, 'rtcprobe turn: IPv6 and the allocation quota', () => {
  let v6: Coturn;
  let v6default: Coturn;
  let quota: Coturn;
  beforeAll(async () => {
    v6 = await startCoturn({ ips: ['::1'], users: [{ user: USER, password: PASSWORD }], args: ['--allow-loopback-peers'] });
    v6default = await startCoturn({ ips: ['::1'], users: [{ user: USER, password: PASSWORD }] });
    quota = await startCoturn({ users: [{ user: USER, password: PASSWORD }], args: ['--user-quota', '3'] });
  });
  afterAll(async () => {
    await v6?.stop();
    await v6default?.stop();
    await quota?.stop();
  });

  it('over IPv6: an IPv6 relay, the relayed path, and --security probes IPv6 peers through it', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:[::1]:${v6.port}`, '-f', '6', '--user', USER, '--password', PASSWORD, '--security', '--count', '10'], { timeout: 90000 });
    expect(r.code, why(r)).toBe(1);
    expect(row(r.json, 'udp.allocate').detail).toMatch(/relayed address \[::1\]:\d+/);
    // coturn with only an IPv6 relay refuses the default (IPv4) Allocate with 440: a warning, then an IPv6 relay.
    const fam = row(r.json, 'udp.allocate-family');
    expect(fam.status).toBe('warn');
    expect(fam.detail).toContain('440');
    expect(row(r.json, 'udp.relay-channel').status).toBe('pass');
    const lo6 = row(r.json, 'security.::1');
    expect(lo6.status).toBe('fail');
    expect(lo6.hint).toContain('allow-loopback-peers');
    // coturn refuses ULA and IPv4-mapped peers on its own? Whatever it does is reported, never skipped.
    for (const id of ['security.fd00::1', 'security.::ffff:127.0.0.1']) expect(['pass', 'fail']).toContain(row(r.json, id).status);
    // No IPv4 relay address on this server: IPv4 peers cannot be reached at all.
    expect(row(r.json, 'security.127.0.0.1').status).toBe('pass');
    expect(row(r.json, 'security.127.0.0.1').detail).toMatch(/no IPv4 relayed address/);
  });

  it('coturn defaults on an IPv6 relay: ::1 refused, but the IPv4-mapped loopback form is granted and flagged', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:[::1]:${v6default.port}`, '-f', '6', '--user', USER, '--password', PASSWORD, '--security', '--count', '5'], { timeout: 90000 });
    expect(r.code, why(r)).toBe(1);
    expect(row(r.json, 'security.::1').status).toBe('pass');
    expect(row(r.json, 'security.::1').detail).toContain('403');
    expect(row(r.json, 'security.ff02::1').status).toBe('pass');
    const mapped = row(r.json, 'security.::ffff:127.0.0.1');
    expect(mapped.status).toBe('fail');
    expect(mapped.hint).toContain('denied-peer-ip=::ffff:0.0.0.0-::ffff:255.255.255.255');
    // The relays are loopback and loopback peers are refused: the path is skipped, with the reason.
    expect(row(r.json, 'udp.permission').status).toBe('skip');
  });

  it('--quota finds coturn\'s user-quota', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${quota.port}`, '--user', USER, '--password', PASSWORD, '--quota', '6'], { timeout: 90000 });
    const q = row(r.json, 'quota');
    expect(q.status).toBe('pass');
    expect(q.detail).toMatch(/quota reached after 3 simultaneous allocations \(486\)/);
  });
});
