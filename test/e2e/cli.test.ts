import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { ERROR_CODES } from '../../src/core/errors.js';
import type { StunJson } from '../../src/commands/stun.js';
import { BIN, parseJson, ROOT, runCli, why } from '../helpers/cli.js';
import { startResponder, successFor, type Responder } from '../helpers/responder.js';

const STACK = /\n\s+at .+:\d+:\d+/;

/** A loopback UDP port with nothing on it (bound, then released). */
async function closedUdpPort(): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

describe('command line', () => {
  let responder: Responder;
  beforeAll(async () => {
    responder = await startResponder((req, from) => [{ data: successFor(req, from.port) }]);
  });
  afterAll(async () => {
    await responder.close();
  });

  it('--help and --version exit 0', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/stun \[options\] \[server\.\.\.\]/);
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('no command prints help on stderr and exits 2', async () => {
    const r = await runCli([]);
    expect(r.code, why(r)).toBe(2);
    expect(r.stderr).toMatch(/Usage: rtcprobe/);
  });

  it.each([
    [['stun', '--count', 'x'], /USAGE: .*--count/],
    [['stun', '--count', '0'], /USAGE: .*between 1 and/],
    [['stun', '--transport', 'sctp'], /USAGE: .*Allowed choices/],
    [['stun', '--bogus'], /USAGE: unknown option '--bogus'/],
    [['nosuchcommand'], /USAGE: unknown command/],
    [['stun', 'host:99999'], /BAD_SERVER: invalid server "host:99999": port 99999 is out of range/],
    [['stun', 'stun://x.org'], /BAD_SERVER: .*no "\/\/"/],
    [['stun', 'turn:x.org'], /BAD_SERVER: .*use "rtcprobe turn"/],
    [['stun', 'stuns:x.org', '--transport', 'udp'], /BAD_SERVER: .*means TLS/],
    [['stun', '127.0.0.1', '--ca', '/nonexistent.pem'], /USAGE: cannot read --ca/],
  ])('%j is a one-line usage error with exit 2', async (args, pattern) => {
    const r = await runCli(args);
    expect(r.code, why(r)).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(STACK);
  });

  it.each([
    [['stun', '--count', 'x'], 'rtcprobe stun --help'],
    [['stun', '127.0.0.1', '--ca', '/nonexistent.pem'], 'rtcprobe stun --help'],
    [['nat', '--bogus'], 'rtcprobe nat --help'],
    [['turn', '--size', '4'], 'rtcprobe turn --help'],
    [['signal', 'serve', '--bogus'], 'rtcprobe signal serve --help'],
    [['signal', 'serve', '--turn-uri', 'turn:127.0.0.1'], 'rtcprobe signal serve --help'],
    [['signal', 'token', '--ttl', '0'], 'rtcprobe signal token --help'],
    [['signal', 'bogus'], 'rtcprobe signal --help'],
    [['nosuchcommand'], 'rtcprobe --help'],
  ])('%j: the usage error points to the help of that command', async (args, help) => {
    const r = await runCli(args);
    expect(r.code, why(r)).toBe(2);
    expect(r.stderr).toMatch(/^error USAGE: /);
    expect(r.stderr).toContain(`Run "${help}" for usage.`);
  });

  it('every missing required option is named in one usage error', async () => {
    const none = await runCli(['signal', 'token']);
    expect(none.code).toBe(2);
    expect(none.stderr.split('\n')[0]).toBe('error USAGE: "signal token" needs --secret <secret> (or RTCPROBE_SIGNAL_SECRET), --room <room> and --identity <id>');
    // The environment variable stands in for --secret.
    const env = await runCli(['signal', 'token', '--identity', 'alice'], { env: { RTCPROBE_SIGNAL_SECRET: 'k'.repeat(32) } });
    expect(env.code).toBe(2);
    expect(env.stderr.split('\n')[0]).toBe('error USAGE: "signal token" needs --room <room>');
    const ok = await runCli(['signal', 'token', '--room', 'r', '--identity', 'alice'], { env: { RTCPROBE_SIGNAL_SECRET: 'k'.repeat(32) } });
    expect(ok.code).toBe(0);
    // A group: at least one of the positional URIs or --ice-servers.
    const turn = await runCli(['turn', '--json']);
    expect(turn.code).toBe(2);
    expect(parseJson(turn.stdout)).toEqual({ error: { code: 'USAGE', message: '"turn" needs at least one turn: or turns: URI, or --ice-servers FILE' } });
  });

  it('a closed port: the error names the endpoint once, with a hint on what to check', async () => {
    const port = await closedUdpPort();
    const r = await runCli(['stun', `127.0.0.1:${port}`, '--count', '1', '--no-color']);
    expect(r.code, why(r)).toBe(1);
    expect(r.stdout).toMatch(/error\s+UNREACHABLE: recvmsg ECONNREFUSED\n/);
    expect(r.stdout).toMatch(/hint\s+nothing accepts traffic there: check the host and port/);
    const t = await runCli(['turn', `turn:127.0.0.1:${port}`, '--user', 'u', '--password', 'p', '--no-color']);
    expect(t.code).toBe(1);
    const endpoint = `UDP 127.0.0.1:${port}: `;
    expect(t.stdout).toContain(`${endpoint}recvmsg ECONNREFUSED`);
    for (const line of t.stdout.split('\n')) expect(line.split(endpoint).length, line).toBeLessThanOrEqual(2);
  });

  it('TIMEOUT: a hint in human output; JSON keeps code and message', async () => {
    const silent = await startResponder(() => []);
    try {
      const r = await runCli(['stun', `127.0.0.1:${silent.port}`, '--count', '1', '--timeout', '300', '--no-color']);
      expect(r.code, why(r)).toBe(1);
      expect(r.stdout).toMatch(/error\s+TIMEOUT: .*\n\s+hint\s+check the host and port, that the server is running, and that no firewall drops/);
      const j = await runCli(['stun', `127.0.0.1:${silent.port}`, '--count', '1', '--timeout', '300', '--json']);
      expect((JSON.parse(j.stdout) as StunJson).servers[0]!.error).toEqual({ code: 'TIMEOUT', message: expect.any(String) });
    } finally {
      await silent.close();
    }
  });

  it('--json turns a usage error into a JSON document on stdout', async () => {
    const r = await runCli(['stun', 'host:0', '--json']);
    expect(r.code, why(r)).toBe(2);
    expect(parseJson(r.stdout)).toEqual({ error: { code: 'BAD_SERVER', message: expect.stringContaining('port 0') } });
  });

  it('colour: FORCE_COLOR colours, --no-color and NO_COLOR remove it', async () => {
    const args = ['stun', `127.0.0.1:${responder.port}`, '--count', '1'];
    const ansi = /\u001b\[\d+m/;
    expect((await runCli(args, { env: { FORCE_COLOR: '1' } })).stdout).toMatch(ansi);
    expect((await runCli([...args, '--no-color'], { env: { FORCE_COLOR: '1' } })).stdout).not.toMatch(ansi);
    expect((await runCli(args, { env: { FORCE_COLOR: '1', NO_COLOR: '1' } })).stdout).not.toMatch(ansi);
  });

  it('--json prints exactly one JSON document and nothing on stderr', async () => {
    const r = await runCli(['stun', `127.0.0.1:${responder.port}`, '--count', '2', '--json'], { env: { FORCE_COLOR: '1' } });
    expect(r.code, why(r)).toBe(0);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout) as StunJson;
    expect(j.servers).toHaveLength(1);
    expect(Object.keys(j.servers[0]!)).toEqual(expect.arrayContaining(['server', 'transport', 'ok', 'mappedAddress', 'rtt', 'loss', 'error']));
    expect(Object.keys(j.servers[0]!.rtt ?? {})).toEqual(expect.arrayContaining(['min', 'median', 'p95', 'max']));
  });

  it.each([
    ['stun', (port: number) => ['stun', `127.0.0.1:${port}`, '--count', '1', '--json'], /dist\/core\/stun\/probe\.js/],
    ['nat', (port: number) => ['nat', '--server', `127.0.0.1:${port}`, '--no-hairpin', '--json'], /dist\/core\/nat\//],
  ])('rtcprobe %s never loads werift (and the trace does see what it loads)', async (_name, argv, own) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-trace-'));
    const trace = join(dir, 'trace');
    try {
      const hook = fileURLToPath(new URL('../helpers/trace-register.mjs', import.meta.url));
      await new Promise<void>((resolve) => {
        execFile(process.execPath, ['--import', hook, BIN, ...argv(responder.port)], {
          cwd: ROOT, env: { PATH: process.env.PATH ?? '', RTCPROBE_TRACE_FILE: trace },
        }, () => resolve());
      });
      const loaded = readFileSync(trace, 'utf8');
      expect(loaded).toMatch(/node_modules\/commander\//);
      expect(loaded).toMatch(own);
      expect(loaded).not.toMatch(/node_modules\/werift/);
      expect(loaded).not.toMatch(/node_modules\/stun\//);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGINT aborts a probe in flight: results so far, exit 130, no stack trace', async () => {
    const silent = await startResponder(() => []);
    try {
      const child = spawn(process.execPath, [BIN, 'stun', `127.0.0.1:${silent.port}`, '--timeout', '60000', '--json'], { cwd: ROOT });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      // Interrupt once the first request has reached the server.
      await vi.waitFor(() => expect(silent.received.length).toBeGreaterThan(0), { timeout: 10000, interval: 20 });
      child.kill('SIGINT');
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(code).toBe(130);
      expect((JSON.parse(stdout) as StunJson).servers[0]!.error?.code).toBe('ABORTED');
      expect(stderr).not.toMatch(STACK);
    } finally {
      await silent.close();
    }
  });

  it('the README states the Node.js version of package.json engines, and exit 130 as it is', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const min = /^>=\s*(\d+(?:\.\d+)*)$/.exec(engines)![1]!;
    expect(readme).toMatch(new RegExp(`Node\\.js ${min.replace(/\./g, '\\.')} or newer`));
    expect(readme).not.toMatch(/Node\.js 20 or newer/);
    expect(readme).toMatch(/\| 130 \| interrupted by SIGINT \(Ctrl-C\) or SIGTERM/);
    expect(readme).not.toMatch(/Ctrl-C twice/);
  });

  it('--heartbeat: a connection is cut after one unanswered ping, as its help and docs/signal.md say', async () => {
    const relay = spawn(process.execPath, [BIN, 'signal', 'serve', '--port', '0', '--json', '--heartbeat', '200', '--join-timeout', '60000'], { cwd: ROOT });
    try {
      let out = '';
      relay.stdout.on('data', (d) => { out += d; });
      await vi.waitFor(() => expect(out).toContain('\n'), { timeout: 20000, interval: 10 });
      const { ws } = JSON.parse(out.split('\n')[0]!) as { ws: string };
      // A peer that never answers pings (ws answers them itself unless told not to).
      const peer = new WebSocket(ws, { autoPong: false });
      let pings = 0;
      peer.on('ping', () => { pings++; });
      const closed = new Promise<number>((resolve) => peer.on('close', (code) => resolve(code)));
      expect(await closed).toBe(1006); // terminated, no close frame
      expect(pings).toBe(1);
    } finally {
      relay.kill('SIGKILL');
    }
    const help = await runCli(['signal', 'serve', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('WebSocket ping interval; a connection that has not answered the previous ping (nor sent anything since) is cut');
    const doc = readFileSync(join(ROOT, 'docs', 'signal.md'), 'utf8');
    // The generated option table carries the help text; the prose below it says the same.
    expect(doc).toContain('| `--heartbeat <ms>` | `30000` | WebSocket ping interval; a connection that has not answered the previous ping (nor sent anything since) is cut |');
    expect(doc.replace(/\s+/g, ' ')).toContain('`--heartbeat <ms>`: a connection that has not answered the previous ping is terminated');
  });

  it('a bug that escapes the command is one INTERNAL line, exit 2, no stack trace', async () => {
    const hook = fileURLToPath(new URL('../helpers/escaped-bug.mjs', import.meta.url));
    const silent = await startResponder(() => []);
    try {
      const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(process.execPath, ['--import', hook, BIN, 'stun', `127.0.0.1:${silent.port}`, '--timeout', '60000', '--verbose'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, timeout: 30000 },
          (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stderr }));
      });
      expect(r.code, why(r)).toBe(2);
      expect(r.stderr).toBe('error INTERNAL: a bug escaped\n');
    } finally {
      await silent.close();
    }
  });

  it('the documentation (docs/errors.md) lists every error code', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
    for (const code of Object.keys(ERROR_CODES)) expect(doc, code).toContain(`\`${code}\``);
  });
});
