import { execFile } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { startResponder, type Responder } from '../helpers/responder.js';
import { describeWith } from '../helpers/system.js';

/** Run the CLI on a pseudo-terminal (util-linux script), returning everything the terminal saw. */
function onPty(args: string[]): Promise<string> {
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  return new Promise((resolve) => {
    execFile('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', TERM: 'xterm' } }, (_err, stdout) => resolve(stdout));
  });
}

describeWith({ commands: ['script'] }, 'on a terminal', () => {
  let silent: Responder;
  beforeAll(async () => {
    silent = await startResponder(() => []);
  });
  afterAll(async () => {
    await silent.close();
  });

  it('a spinner shows progress, and colour is on', async () => {
    const out = await onPty(['stun', `127.0.0.1:${silent.port}`, '--count', '1', '--timeout', '500']);
    expect(out).toContain('querying 1 STUN server(s)');
    // eslint-disable-next-line no-control-regex
    expect(out).toMatch(/\u001b\[3\dm/);
  });

  it('--json: no spinner and no colour, even on a terminal', async () => {
    const out = await onPty(['stun', `127.0.0.1:${silent.port}`, '--count', '1', '--timeout', '500', '--json']);
    expect(out).not.toContain('querying');
    // eslint-disable-next-line no-control-regex
    expect(out).not.toMatch(/\u001b\[/);
    expect(JSON.parse(out.replace(/\r\n/g, '\n')).servers[0].error.code).toBe('TIMEOUT');
  });
});
