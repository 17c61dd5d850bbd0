import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckReport } from '../../src/core/check/report.js';
import { BIN, parseJson, ROOT, runCli, runJson, why } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { ensurePionTurn, startPionTurn, type PionTurn } from '../helpers/pion-turn.js';
import { freeTcpPort, parseListeningLine, track, until } from '../helpers/signal.js';
import { describeWith, IN_CI } from '../helpers/system.js';
import { findFreePortRange } from '../helpers/ports.js';
import { makeTestCert, type TestCert } from '../helpers/tls.js';

/**
 * rtcprobe check on loopback against real servers: coturn and pion/turn.
 * The port-mapping step is skipped (it would ask this machine's real gateway);
 * the werift steps have their own tests.
 */

const USER = 'checkuser';
const PASSWORD = 'check-password-31';
const SECRET = 'check-rest-secret-5';
const NO_RTC = ['--skip', 'portmap,gather,e2e'];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtcprobe-check-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function iceFile(name: string, doc: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(doc));
  return p;
}

describe('rtcprobe check: usage', () => {
  it.each([
    [['check', '--metrics-port', '0'], '--metrics-port needs --every'],
    [['check', '--rounds', '2'], '--rounds needs --every'],
    [['check', 'stun:127.0.0.1:9', '--ice-servers', '/nonexistent.json'], 'give one of'],
    [['check', '--skip', 'dns'], '"dns" is not one of'],
    [['check', 'turn:127.0.0.1:9'], 'need --user and --password'],
  ])('%j exits 2', async (args, words) => {
    const r = await runCli(args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(words);
  });
});

describe('rtcprobe check: a refused STUN server', () => {
  it('is a broken server, and the ICMP refusal shows UDP leaves this host (not "UDP blocked")', async () => {
    const port = await findFreePortRange(1);
    const r = await runJson<CheckReport>(['check', `127.0.0.1:${port}`, '--skip', 'portmap,gather,e2e,nat'], { timeout: 60_000 });
    expect(r.code, why(r)).toBe(1);
    expect(r.json.broken).toEqual([{ url: `stun:127.0.0.1:${port}`, cause: expect.stringContaining('ECONNREFUSED') }]);
    expect(r.json.steps.network.egress.udp).toBe(true);
    expect(r.json.forecast.local).not.toBe('udp-blocked');
  }, 90_000);
});

describe('rtcprobe check: interrupted', () => {
  it('SIGINT during the run: the partial report, marked interrupted, and exit 130', async () => {
    // A silent "server": the first request it gets is the moment to interrupt.
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const port = sock.address().port;
    const child = track(spawn(process.execPath, [BIN, 'check', `stun:127.0.0.1:${port}`, ...NO_RTC, '--timeout', '60000', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout!.on('data', (d) => { out += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    sock.once('message', () => child.kill('SIGINT'));
    try {
      expect(await exited).toBe(130);
    } finally {
      sock.close();
    }
    const j = parseJson(out) as CheckReport;
    expect(j.interrupted).toBe(true);
    expect(j.ok).toBe(false);
    expect(j.elapsedMs).toBeLessThan(60_000);
  }, 90_000);
});

describeWith({ commands: ['turnserver'] }, 'rtcprobe check against coturn and pion/turn on loopback', () => {
  let coturn: Coturn;
  let pion: PionTurn | undefined;
  beforeAll(async () => {
    coturn = await startCoturn({ users: [{ user: USER, password: PASSWORD }], realm: 'check.test', args: ['--allow-loopback-peers'] });
    if (ensurePionTurn()) pion = await startPionTurn({ users: [{ user: USER, password: PASSWORD }] });
    else if (IN_CI) throw new Error('the pion/turn test server cannot be built (test/pion-turn/build.sh)');
  }, 60_000);
  afterAll(async () => {
    await coturn?.stop();
    await pion?.stop();
  });

  it('a working configuration: every relay works, exit 0, the verdict first', async () => {
    const file = iceFile('good.json', { iceServers: [{ urls: [`stun:127.0.0.1:${coturn.port}`] }, { urls: [`turn:127.0.0.1:${coturn.port}`, `turn:127.0.0.1:${coturn.port}?transport=tcp`], username: USER, credential: PASSWORD }], iceTransportPolicy: 'all' });
    const r = await runJson<CheckReport>(['check', '--ice-servers', file, ...NO_RTC], { timeout: 90_000 });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.relays.map((p) => [p.transport, p.status])).toEqual([['udp', 'works'], ['tcp', 'works']]);
    expect(r.json.broken).toEqual([]);
    expect(r.json.steps.servers.stun[0]).toMatchObject({ ok: true });
    expect(r.json.steps.network.egress.udp).toBe(true);
    expect(r.json.steps.network.egress.tcp).toEqual([{ url: `turn:127.0.0.1:${coturn.port}?transport=tcp`, port: coturn.port, ok: true }]);
    expect(r.json.steps.nat.status).toBe('done');
    expect(r.json.steps.portmap.status).toBe('skipped');
    expect(r.json.verdict.text).toMatch(/^Calls will connect: .*TURN\/UDP and TURN\/TCP on \d+ work$/);
    expect(r.json.forecast.basis).toContain('Derived from what was measured here');
    expect(r.stdout).not.toContain(PASSWORD);

    const h = await runCli(['check', '--ice-servers', file, ...NO_RTC], { timeout: 90_000 });
    expect(h.code).toBe(0);
    expect(h.stdout.split('\n')[0]).toBe(`✔ ${r.json.verdict.text.replace(/\d+ work$/, `${coturn.port} work`)}`);
    expect(h.stdout).toContain('6. Forecast');
    expect(h.stdout).not.toContain(PASSWORD);
  }, 120_000);

  it('without the werift steps, werift is never loaded', async () => {
    const trace = join(dir, 'trace');
    const hook = fileURLToPath(new URL('../helpers/trace-register.mjs', import.meta.url));
    const code = await new Promise<number>((resolve) => {
      execFile(process.execPath, ['--import', hook, BIN, 'check', `turn:127.0.0.1:${coturn.port}`, '-u', USER, '-p', PASSWORD, ...NO_RTC, '--json'], {
        cwd: ROOT, env: { PATH: process.env.PATH ?? '', RTCPROBE_TRACE_FILE: trace },
      }, (err) => resolve(err ? ((err as { code?: number }).code ?? -1) : 0));
    });
    expect(code).toBe(0);
    const loaded = readFileSync(trace, 'utf8');
    expect(loaded).toMatch(/dist\/core\/check\/run\.js/);
    expect(loaded).toMatch(/dist\/core\/turn\/checks\.js/);
    expect(loaded).not.toMatch(/node_modules\/werift/);
  }, 60_000);

  it('pion/turn, a second TURN implementation: UDP and TCP relays work, also end to end', async (ctx) => {
    if (!pion) return ctx.skip();
    const urls = [`turn:127.0.0.1:${pion.port}`, `turn:127.0.0.1:${pion.tcpPort}?transport=tcp`];
    const r = await runJson<CheckReport>(['check', ...urls, '-u', USER, '-p', PASSWORD, '--skip', 'portmap', '--loopback'], { timeout: 120_000 });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.steps.servers.turn.map((t) => t.verdict)).toEqual(['works', 'works']);
    expect(r.json.steps.e2e.relays.map((e) => [e.transport, e.verdict])).toEqual([['udp', 'works'], ['tcp', 'works']]);
    expect(r.json.steps.gather.candidates.filter((c) => c.type === 'relay').map((c) => c.relayProtocol).sort()).toEqual(['tcp', 'udp']);
    // The NAT step ran against pion's UDP port: it answers Binding requests too.
    expect(r.json.steps.nat).toMatchObject({ status: 'done', server: `127.0.0.1:${pion.port}` });
  }, 150_000);

  it('broken servers: a dead TURN server and a wrong credential are named with their cause, the others still checked', async (ctx) => {
    if (!pion) return ctx.skip();
    const dead = await findFreePortRange(1, ['127.0.0.3']);
    const file = iceFile('broken.json', [
      { urls: `turn:127.0.0.1:${coturn.port}`, username: USER, credential: PASSWORD },
      { urls: `turn:127.0.0.3:${dead}`, username: USER, credential: PASSWORD },
      { urls: `turn:127.0.0.1:${pion.port}`, username: USER, credential: 'not-the-password' },
    ]);
    const r = await runJson<CheckReport>(['check', '--ice-servers', file, ...NO_RTC], { timeout: 90_000 });
    expect(r.code, r.stdout).toBe(1);
    expect(r.json.relays.map((p) => p.status)).toEqual(['works', 'failed', 'failed']);
    const broken = new Map(r.json.broken.map((b) => [b.url, b.cause]));
    expect([...broken.keys()].sort()).toEqual([`turn:127.0.0.1:${pion.port}`, `turn:127.0.0.3:${dead}`]);
    expect(broken.get(`turn:127.0.0.3:${dead}`)).toMatch(/^no answer: UDP 127\.0\.0\.3:\d+/);
    // pion answers a wrong credential with 400 (coturn would say 401).
    expect(broken.get(`turn:127.0.0.1:${pion.port}`)).toMatch(/credentials rejected|rejected these credentials/);
    expect(r.json.verdict.text).toMatch(/TURN\/UDP works; TURN\/UDP failed; 2 configured servers broken$/);
    expect(r.json.verdict.connect).toBe('yes');

    const h = await runCli(['check', '--ice-servers', file, ...NO_RTC], { timeout: 90_000 });
    expect(h.code).toBe(1);
    const lines = h.stdout.split('\n');
    expect(lines[0]).toMatch(/^⚠ Calls will connect: /);
    expect(lines.slice(1, 3).sort()).toEqual([expect.stringContaining(`turn:127.0.0.1:${pion.port}: `), expect.stringContaining(`turn:127.0.0.3:${dead}: no answer`)]);
    expect(h.stdout).not.toContain('not-the-password');
  }, 120_000);
});

describeWith({ commands: ['turnserver'] }, 'rtcprobe check --signal: the iceServers a relay hands out (signal serve --turn-secret)', () => {
  let coturn: Coturn;
  let relay: ReturnType<typeof spawn> | undefined;
  let wsUrl: string;
  beforeAll(async () => {
    coturn = await startCoturn({ secret: SECRET, realm: 'rest.test', args: ['--allow-loopback-peers'] });
    relay = track(spawn(process.execPath, [BIN, 'signal', 'serve', '--port', '0', '--json', '--turn-uri', `turn:127.0.0.1:${coturn.port}`, '--turn-uri', `turn:127.0.0.1:${coturn.port}?transport=tcp`, '--turn-secret', SECRET], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    relay.stdout!.on('data', (d) => { out += d.toString(); });
    await until(() => out.includes('\n') || relay!.exitCode !== null, 20_000, 'the relay\'s ready line');
    wsUrl = parseListeningLine(out.slice(0, out.indexOf('\n'))).ws;
  }, 60_000);
  afterAll(async () => {
    if (relay && relay.exitCode === null) {
      const exited = new Promise((r) => relay!.once('exit', r));
      relay.kill('SIGTERM');
      await exited;
    }
    await coturn?.stop();
  });

  it('checks the relay\'s TURN URIs with the REST credentials it issues', async () => {
    const r = await runJson<CheckReport>(['check', '--signal', wsUrl, '--room', 'probe', '--skip', 'portmap', '--loopback'], { timeout: 120_000 });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.input.source).toBe('signal');
    expect(r.json.input.servers).toEqual([{ urls: [`turn:127.0.0.1:${coturn.port}`, `turn:127.0.0.1:${coturn.port}?transport=tcp`], username: true, credential: true }]);
    // End to end: the data channel opened through the relay over each transport.
    expect(r.json.steps.e2e.relays.map((e) => [e.transport, e.verdict])).toEqual([['udp', 'works'], ['tcp', 'works']]);
    expect(r.json.relays.map((p) => [p.transport, p.status, p.provenBy])).toEqual([['udp', 'works', 'e2e'], ['tcp', 'works', 'e2e']]);
    expect(r.json.steps.gather.candidates.filter((c) => c.type === 'relay').map((c) => c.relayProtocol).sort()).toEqual(['tcp', 'udp']);
    expect(r.stdout).not.toContain(SECRET);
  }, 150_000);

  it('URIs with --secret: REST credentials made here, as turn makes them (and the secret from the environment)', async () => {
    const uri = `turn:127.0.0.1:${coturn.port}`;
    const r = await runJson<CheckReport>(['check', uri, '--secret', SECRET, ...NO_RTC], { timeout: 90_000 });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.input).toEqual({ source: 'uris', servers: [{ urls: [uri], username: true, credential: true }] });
    expect(r.json.relays[0]).toMatchObject({ status: 'works' });
    const env = await runJson<CheckReport>(['check', uri, ...NO_RTC], { timeout: 90_000, env: { RTCPROBE_TURN_SECRET: SECRET } });
    expect(env.code, env.stdout).toBe(0);
    expect(r.stdout + env.stdout).not.toContain(SECRET);
  }, 120_000);

  it('a relay without TURN configuration: a usage error (exit 2)', async () => {
    const bare = track(spawn(process.execPath, [BIN, 'signal', 'serve', '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    bare.stdout!.on('data', (d) => { out += d.toString(); });
    try {
      await until(() => out.includes('\n'), 20_000, 'the relay\'s ready line');
      const r = await runCli(['check', '--signal', parseListeningLine(out.slice(0, out.indexOf('\n'))).ws, ...NO_RTC]);
      expect(r.code, why(r)).toBe(2);
      expect(r.stderr).toContain('hands out no iceServers');
    } finally {
      const exited = new Promise((res) => bare.once('exit', res));
      bare.kill('SIGTERM');
      await exited;
    }
  }, 60_000);
});

/** Prometheus text format 0.0.4, strictly enough for a test: HELP/TYPE before samples, samples parse. */
function parseProm(text: string): Map<string, { labels: Record<string, string>; value: number }[]> {
  const out = new Map<string, { labels: Record<string, string>; value: number }[]>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE ([a-zA-Z_:][\w:]*) (counter|gauge|histogram)$/.exec(line);
    if (t) {
      typed.add(t[1]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][\w:]* .*$/.test(line)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (-?[\d.eE+-]+|NaN|[+-]Inf)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    if (!typed.has(m[1]!)) throw new Error(`sample before its TYPE: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_x, ch: string) => (ch === 'n' ? '\n' : ch));
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), { labels, value: Number(m[3]) }]);
  }
  return out;
}

describeWith({ commands: ['turnserver'] }, 'rtcprobe check --every: monitoring', () => {
  let coturn: Coturn;
  beforeAll(async () => {
    coturn = await startCoturn({ users: [{ user: USER, password: PASSWORD }], args: ['--allow-loopback-peers'] });
  }, 60_000);
  afterAll(async () => {
    await coturn?.stop();
  });

  it('JSON Lines per round, /metrics parses as Prometheus text, SIGTERM ends it with exit 0', async () => {
    const port = await freeTcpPort();
    const child = track(spawn(process.execPath, [BIN, 'check', `turn:127.0.0.1:${coturn.port}`, '-u', USER, '-p', PASSWORD, ...NO_RTC, '--every', '1s', '--metrics-port', String(port), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => { out += d.toString(); });
    child.stderr!.on('data', (d) => { err += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await until(() => out.split('\n').filter((l) => l.includes('"event":"round"')).length >= 2 || child.exitCode !== null, 60_000, 'two rounds');
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      const prom = parseProm(await res.text());
      expect(prom.get('rtcprobe_check_rounds_total')![0]!.value).toBeGreaterThanOrEqual(2);
      expect(prom.get('rtcprobe_check_success')![0]!.value).toBe(1);
      expect(prom.get('rtcprobe_check_relay_up')).toEqual([{ labels: { url: `turn:127.0.0.1:${coturn.port}`, transport: 'udp', status: 'works' }, value: 1 }]);
      expect(prom.get('rtcprobe_check_relay_rtt_seconds')![0]!.value).toBeGreaterThan(0);
      expect(prom.get('rtcprobe_check_forecast')!.length).toBe(6);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, err).toBe(0);
    const lines = out.trim().split('\n').map((l) => parseJson(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ event: 'start', everyMs: 1000 });
    const rounds = lines.filter((l) => l.event === 'round');
    expect(rounds.length).toBeGreaterThanOrEqual(2);
    expect(rounds[0]).toMatchObject({ round: 1, ok: true, connect: 'yes' });
    expect((rounds[0]!.report as CheckReport).command).toBe('check');
    expect(lines[lines.length - 1]).toMatchObject({ command: 'check', event: 'summary', interrupted: true });
  }, 120_000);

  it('--rounds ends by itself with the exit of the last round', async () => {
    const r = await runCli(['check', `turn:127.0.0.1:${coturn.port}`, '-u', USER, '-p', PASSWORD, ...NO_RTC, '--every', '1s', '--rounds', '2', '--json'], { timeout: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => parseJson(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.event === 'round').map((l) => l.round)).toEqual([1, 2]);
    expect(lines[lines.length - 1]).toMatchObject({ event: 'summary', rounds: 2, interrupted: false, ok: true });
  }, 120_000);
});

describeWith({ commands: ['turnserver', 'openssl'] }, 'rtcprobe check with werift: gathering and a relayed WebRTC call per transport', () => {
  let coturn: Coturn;
  let cert: TestCert;
  beforeAll(async () => {
    cert = makeTestCert('IP:127.0.0.1');
    coturn = await startCoturn({ users: [{ user: USER, password: PASSWORD }], realm: 'check.test', tls: { cert: cert.cert, key: cert.key }, args: ['--allow-loopback-peers'] });
  }, 60_000);
  afterAll(async () => {
    await coturn?.stop();
    cert?.remove();
  });

  it('every candidate with its relay protocol and time, the data channel open through udp, tcp and tls, a wrong password named', async () => {
    const urls = [`turn:127.0.0.1:${coturn.port}`, `turn:127.0.0.1:${coturn.port}?transport=tcp`, `turns:127.0.0.1:${coturn.tlsPort}`];
    // The same server under another spelling of its URL, with a wrong password.
    const WRONG = () => `turn:127.0.0.1:${coturn.port}?transport=udp`;
    const file = iceFile('werift.json', { iceServers: [{ urls, username: USER, credential: PASSWORD }, { urls: [WRONG()], username: USER, credential: 'wrong-password' }] });
    const r = await runJson<CheckReport>(['check', '--ice-servers', file, '--skip', 'portmap', '--loopback', '--ca', cert.cert, '--probes', '5'], { timeout: 120_000 });
    expect(r.code, r.stdout).toBe(1);
    const g = r.json.steps.gather;
    expect(g.status, g.reason).toBe('done');
    const relays = g.candidates.filter((c) => c.type === 'relay');
    expect(relays.map((c) => [c.url, c.relayProtocol]).sort()).toEqual([[urls[0], 'udp'], [urls[1], 'tcp'], [urls[2], 'tls']].sort());
    for (const c of g.candidates) expect(c.atMs).toBeGreaterThanOrEqual(0);
    expect(g.firstMs).toBeLessThanOrEqual(g.lastMs!);
    expect(g.errors).toEqual([expect.objectContaining({ url: WRONG(), errorCode: 401 })]);
    const e2e = r.json.steps.e2e;
    expect(e2e.status, e2e.reason).toBe('done');
    expect(e2e.relays.map((x) => [x.url, x.verdict])).toEqual([...urls.map((u) => [u, 'works']), [WRONG(), 'failed']]);
    for (const x of e2e.relays.slice(0, 3)) {
      expect(x.connectMs!.total).toBeGreaterThan(0);
      expect(x.rttMs!.samples).toBe(5);
    }
    expect(r.json.relays.map((p) => [p.status, p.provenBy])).toEqual([['works', 'e2e'], ['works', 'e2e'], ['works', 'e2e'], ['failed', undefined]]);
    expect(r.json.broken).toEqual([expect.objectContaining({ url: WRONG() })]);
    expect(r.json.verdict.text).toMatch(/TURN\/UDP, TURN\/TCP on \d+ and TURN\/TLS on \d+ work; TURN\/UDP failed; 1 configured server broken$/);
    expect(r.stdout).not.toContain(PASSWORD);
    expect(r.stdout).not.toContain('wrong-password');
  }, 150_000);

  it('what werift cannot do (a TURN server over IPv6 UDP) is "not verified" with werift\'s reason, never a verdict of the werift steps', async () => {
    const url = `turn:[::1]:${coturn.port}`;
    const r = await runJson<CheckReport>(['check', url, '-u', USER, '-p', PASSWORD, '--skip', 'portmap,nat', '--loopback'], { timeout: 120_000 });
    expect(r.json.steps.gather.unsupported).toEqual([{ url, reason: expect.any(String) }]);
    expect(r.json.steps.e2e.relays).toEqual([expect.objectContaining({ url, verdict: 'not-verified', reason: expect.any(String) })]);
    // The relayed path is judged from the TURN checks alone (coturn here listens on IPv4 only).
    expect(r.json.relays[0]!.provenBy).not.toBe('e2e');
  }, 150_000);
});
