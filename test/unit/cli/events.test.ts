import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { createEventWriter, eventLine, type GlobalOptions, type Io } from '../../../src/output.js';
import { why } from '../../helpers/cli.js';

/** A stream that keeps what is written, and resolves `line` at the first complete line. */
function sink(extra: { isTTY?: boolean; columns?: number } = {}) {
  let text = '';
  let onLine: (() => void) | undefined;
  const firstLine = new Promise<void>((resolve) => {
    onLine = resolve;
  });
  const stream = Object.assign(
    new Writable({
      write(chunk, _e, cb) {
        text += String(chunk);
        if (text.includes('\n')) onLine?.();
        cb();
      },
    }),
    extra,
  );
  return { stream, text: () => text, firstLine };
}

const human: GlobalOptions = { json: false, color: false, verbose: false };
const json: GlobalOptions = { json: true, color: false, verbose: false };
const T = Date.parse('2026-01-02T03:04:05.678Z');
const now = () => T;

describe('event writer', () => {
  it('--json: one compact JSON object per line, "event" first, stamped with "at"', () => {
    const out = sink();
    const w = createEventWriter(out.stream, json, { now });
    w.emit('listening', { port: 7070, origins: ['https://a.example'] }, () => 'not under --json');
    w.emit('tick');
    const lines = out.text().split('\n');
    expect(lines).toEqual(['{"event":"listening","port":7070,"origins":["https://a.example"],"at":"2026-01-02T03:04:05.678Z"}', '{"event":"tick","at":"2026-01-02T03:04:05.678Z"}', '']);
    expect(Object.keys(JSON.parse(lines[0]!))[0]).toBe('event');
  });

  it('--json: fields that carry their own "at" keep it, in place', () => {
    const out = sink();
    createEventWriter(out.stream, json, { now }).emit('round', { round: 1, at: '2025-12-31T23:59:59.000Z', servers: [] });
    expect(out.text()).toBe('{"event":"round","round":1,"at":"2025-12-31T23:59:59.000Z","servers":[]}\n');
  });

  it('--json: a note for people writes nothing', () => {
    const out = sink();
    createEventWriter(out.stream, json, { now }).note(() => 'Watching 2 servers');
    expect(out.text()).toBe('');
  });

  it('human: the event\'s own lines, nothing when it has none to show, a note as is', () => {
    const out = sink();
    const w = createEventWriter(out.stream, human, { now });
    w.note(() => 'Watching 2 servers');
    w.emit('round', { round: 1 }, (st) => `${st.ok} round 1\n  detail`);
    w.emit('ping', { rttMs: 1 }, () => undefined);
    expect(out.text()).toBe('Watching 2 servers\n✔ round 1\n  detail\n');
  });

  it('human: without a formatter, a generic "time  event  key=value" line, values that need it quoted', () => {
    const out = sink();
    createEventWriter(out.stream, human, { now }).emit('peer', { id: 'alice', note: 'two words', n: 3, gone: undefined, esc: '\u001b[2J' });
    expect(out.text()).toBe('03:04:05  peer  id=alice note="two words" n=3 esc="\\u001b[2J"\n');
    expect(eventLine('tick', {}, T)).toBe('03:04:05  tick');
  });

  it('colour follows the global option', () => {
    const out = sink();
    createEventWriter(out.stream, { ...human, color: true }, { now }).emit('x', {}, (st) => st.ok);
    expect(out.text()).toBe('\u001b[32m✔\u001b[39m\n');
  });

  it('every write goes through `around` (the CLI takes a spinner off the terminal meanwhile)', () => {
    const out = sink();
    const calls: string[] = [];
    const w = createEventWriter(out.stream, human, {
      now,
      around: (write) => {
        calls.push('before');
        write();
        calls.push(`after:${out.text().length}`);
      },
    });
    w.emit('x', {}, () => 'line');
    w.note(() => 'note');
    expect(calls).toEqual(['before', 'after:5', 'before', 'after:10']);
  });
});

describe('a long-running command through the CLI (signal serve, in process)', () => {
  async function serve(extra: string[]) {
    const out = sink();
    const err = sink();
    const abort = new AbortController();
    const io: Io = { stdout: out.stream, stderr: err.stream, env: {}, signal: abort.signal };
    const done = main(['signal', 'serve', '--port', '0', '--instance-id', 'unit-1', ...extra], io);
    await Promise.race([out.firstLine, done]);
    abort.abort(new Error('received SIGTERM'));
    const code = await done;
    return { code, out: out.text(), err: err.text() };
  }

  it('--json: stdout holds only JSON Lines events and the final document; the warning goes to stderr', async () => {
    const r = await serve(['--json', '--secret', 'short']);
    expect(r.code, why(r)).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const docs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(docs[0]).toMatchObject({ event: 'listening', instance: 'unit-1', auth: true, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    expect(docs[1]).toMatchObject({ event: 'stopped', command: 'signal', action: 'serve', ok: true, instance: 'unit-1' });
    expect(r.err).toMatch(/^warning: the --secret is 5 bytes; HS256 needs at least 32/);
    expect(r.out).not.toContain('short');
  });

  it('human: the ready lines, then the summary; the secret is masked', async () => {
    const r = await serve(['--secret', 'a-secret-of-thirty-two-bytes-ok!']);
    expect(r.code, why(r)).toBe(0);
    expect(r.out).toMatch(/^✔ signaling relay unit-1 listening\n {4}websocket {2}ws:\/\/127\.0\.0\.1:\d+\//);
    expect(r.out).toMatch(/✔ relay unit-1 stopped gracefully \(received SIGTERM\)/);
    expect(r.out).not.toContain('a-secret-of-thirty-two-bytes-ok!');
    expect(r.err).toBe('');
  });
});

describe('events while a spinner runs', () => {
  it('the spinner is taken off the terminal before an event line and drawn again after it', async () => {
    const log: string[] = [];
    const tty = Object.assign(
      new Writable({
        write(chunk, _e, cb) {
          log.push(`err:${String(chunk)}`);
          cb();
        },
      }),
      {
        isTTY: true,
        columns: 80,
        cursorTo: () => log.push('err:cursorTo') > 0,
        moveCursor: () => log.push('err:moveCursor') > 0,
        clearLine: () => log.push('err:clearLine') > 0,
      },
    );
    const out = new Writable({
      write(chunk, _e, cb) {
        log.push(`out:${String(chunk)}`);
        cb();
      },
    });
    const io: Io = { stdout: out, stderr: tty, env: {} };
    const { startProgress } = await import('../../../src/output.js');
    const p = await startProgress(io, human, 'working');
    try {
      expect(p.suspend).toBeDefined();
      const w = createEventWriter(out, human, { now, around: (write) => p.suspend!(write) });
      const before = log.length;
      w.emit('tick', {}, () => 'an event');
      const after = log.slice(before);
      const at = after.indexOf('out:an event\n');
      expect(at).toBeGreaterThan(0);
      expect(after.slice(0, at)).toContain('err:clearLine');
      expect(after.slice(at + 1).some((l) => l.startsWith('err:') && l.includes('working'))).toBe(true);
    } finally {
      p.stop();
    }
  });
});
