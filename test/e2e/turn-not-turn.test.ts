import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startStund, type Stund } from '../helpers/stund-server.js';
import { describeWith } from '../helpers/system.js';

// A UDP port that is not a TURN server: the run fails cleanly (exit 1, a reach row) and
// nothing but the report is printed: no listener warnings on stderr.
describe('rtcprobe turn: a UDP port that is not a TURN server', () => {
  let silent: dgram.Socket;
  let port = 0;
  beforeAll(async () => {
    silent = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    await new Promise<void>((resolve) => silent.bind(0, '::1', () => resolve()));
    port = silent.address().port;
  });
  afterAll(() => new Promise<void>((resolve) => silent.close(() => resolve())));

  it('a silent port: exit 1, no answer, stderr empty', async () => {
    const r = await runCli(['turn', `turn:[::1]:${port}`, '-u', 'u', '-p', 'p', '-t', '1000']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/udp\.reach\s+UDP \[::1\]:\d+: no answer/);
    expect(r.stderr).toBe('');
  });
});

describeWith({ commands: ['stund'] }, 'rtcprobe turn: a classic STUN server (stund) is not a TURN server', () => {
  let stund: Stund;
  beforeAll(async () => {
    stund = await startStund();
  });
  afterAll(async () => {
    await stund?.stop();
  });

  it('exit 1, stderr empty, over UDP and TCP', async () => {
    const r = await runCli(['turn', `turn:127.0.0.1:${stund.port}`, `turn:127.0.0.1:${stund.port}?transport=tcp`, '-u', 'u', '-p', 'p', '-t', '1000']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/udp\.reach/);
    expect(r.stderr).toBe('');
  });
});
