import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseJson } from '../../helpers/cli.js';
import { missingRequired, type CommandSpec } from '../../../src/commands/options.js';
import { RtcprobeError, toRtcprobeError } from '../../../src/core/errors.js';
import { renderError, spinnerAllowed, type Io } from '../../../src/output.js';

function sink(extra: { isTTY?: boolean; columns?: number } = {}) {
  let text = '';
  const s = Object.assign(new Writable({ write(chunk, _e, cb) { text += String(chunk); cb(); } }), extra);
  return { stream: s, text: () => text };
}

function io(env: Record<string, string> = {}, stderr: { isTTY?: boolean; columns?: number } = {}) {
  const out = sink();
  const err = sink(stderr);
  const value: Io = { stdout: out.stream, stderr: err.stream, env };
  return { io: value, out: out.text, err: err.text };
}

const human = { json: false, color: false, verbose: false };
const json = { json: true, color: false, verbose: false };

describe('spinnerAllowed', () => {
  it.each([
    ['a sized terminal', {}, { isTTY: true, columns: 80 }, human, true],
    ['0 columns (an unsized pty)', {}, { isTTY: true, columns: 0 }, human, false],
    ['no columns at all', {}, { isTTY: true }, human, false],
    ['not a terminal', {}, { columns: 80 }, human, false],
    ['--json', {}, { isTTY: true, columns: 80 }, json, false],
    ['NO_COLOR', { NO_COLOR: '1' }, { isTTY: true, columns: 80 }, human, false],
    ['empty NO_COLOR does not count', { NO_COLOR: '' }, { isTTY: true, columns: 80 }, human, true],
    ['TERM=dumb', { TERM: 'dumb' }, { isTTY: true, columns: 80 }, human, false],
    ['CI', { CI: 'true' }, { isTTY: true, columns: 80 }, human, false],
  ])('%s', (_name, env, stderr, g, allowed) => {
    expect(spinnerAllowed(io(env as Record<string, string>, stderr).io, g)).toBe(allowed);
  });
});

describe('renderError', () => {
  it('TIMEOUT and UNREACHABLE carry a hint: a line on stderr, a field in JSON', () => {
    for (const code of ['TIMEOUT', 'UNREACHABLE'] as const) {
      const h = io();
      renderError(new RtcprobeError(code, 'no answer'), h.io, human);
      expect(h.err()).toMatch(new RegExp(`^error ${code}: no answer\\n  hint: .*check the host and port`));
      const j = io();
      renderError(new RtcprobeError(code, 'no answer'), j.io, json);
      expect(parseJson(j.out())).toEqual({ error: { code, message: 'no answer', hint: expect.stringMatching(/^.*check the host and port/) } });
    }
  });

  it('other codes have no hint', () => {
    const j = io();
    renderError(new RtcprobeError('SOCKET', 'in use'), j.io, json);
    expect(parseJson(j.out())).toEqual({ error: { code: 'SOCKET', message: 'in use' } });
  });

  it('under JSON Lines the error is one compact line', () => {
    const j = io();
    renderError(new RtcprobeError('SOCKET', 'in use'), j.io, json, { jsonLines: true });
    expect(j.out()).toBe('{"error":{"code":"SOCKET","message":"in use"}}\n');
  });
});

describe('toRtcprobeError', () => {
  it('says its context once, even when the message already starts with it', () => {
    const once = toRtcprobeError(Object.assign(new Error('recvmsg ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'UDP 127.0.0.1:9');
    expect(once.message).toBe('UDP 127.0.0.1:9: recvmsg ECONNREFUSED');
    const again = toRtcprobeError(Object.assign(new Error(once.message), { code: 'ECONNREFUSED' }), 'UDP 127.0.0.1:9');
    expect(again.message).toBe('UDP 127.0.0.1:9: recvmsg ECONNREFUSED');
    expect(again.code).toBe('UNREACHABLE');
  });
});

describe('missingRequired', () => {
  const spec: CommandSpec = {
    name: 'x',
    summary: '',
    args: '[uri...]',
    options: [
      { flags: '--secret <s>', description: '', required: true, env: 'X_SECRET' },
      { flags: '-r, --room-name <room>', description: '', required: true },
      { flags: '--ice-servers <file>', description: '' },
      { flags: '--list <v>', description: '', required: true },
    ],
    requireOneOf: [{ anyOf: ['<args>', '--ice-servers'] }],
  };
  it('names every missing one, in order, with the environment variable that can stand in', () => {
    expect(missingRequired(spec, [], { list: [] }, {})).toEqual(['--secret <s> (or X_SECRET)', '--room-name <room>', '--list <v>', '<uri> or --ice-servers <file>']);
  });
  it('an environment variable, a value, a positional argument or a group member satisfies them', () => {
    expect(missingRequired(spec, ['turn:h'], { roomName: 'r', list: ['a'] }, { X_SECRET: 'k' })).toEqual([]);
    expect(missingRequired(spec, [], { secret: 'k', roomName: 'r', list: ['a'], iceServers: 'f.json' }, {})).toEqual([]);
    expect(missingRequired(spec, [], { roomName: 'r', list: ['a'], iceServers: 'f' }, { X_SECRET: '' })).toEqual(['--secret <s> (or X_SECRET)']);
  });
  it('an empty value given on the command line counts as given: the command judges the value itself', () => {
    expect(missingRequired(spec, [], { secret: '', roomName: 'r', list: ['a'], iceServers: 'f' }, {})).toEqual([]);
  });
});
