import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runJson, why } from '../helpers/cli.js';
import { startResponder, type Responder } from '../helpers/responder.js';
import { StunClass } from '../../src/core/stun/constants.js';
import { encodeMessage } from '../../src/core/stun/message.js';
import type { TurnJson } from '../../src/commands/turn.js';
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
    expect(r.code, why(r)).toBe(1);
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
    expect(r.code, why(r)).toBe(1);
    expect(r.stdout).toMatch(/udp\.reach/);
    expect(r.stderr).toBe('');
  });
});

describe('rtcprobe turn: a server that answers Allocate without a relayed address', () => {
  let srv: Responder;
  beforeAll(async () => {
    // A success response to every request, with no attributes at all: an answer, but not a TURN one.
    srv = await startResponder((req) => [{ data: encodeMessage({ method: req.method, cls: StunClass.SuccessResponse, transactionId: req.transactionId }) }]);
  });
  afterAll(() => srv.close());

  it('reach passes (it answered) and allocate fails, with no "no answer" hint', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${srv.port}`, '-u', 'u', '-p', 'p', '-t', '1000']);
    expect(r.code, why(r)).toBe(1);
    const reach = r.json.checks.find((c) => c.id === 'udp.reach')!;
    const alloc = r.json.checks.find((c) => c.id === 'udp.allocate')!;
    expect(reach.status).toBe('pass');
    expect(alloc.status).toBe('fail');
    expect(alloc.detail).toContain('without XOR-RELAYED-ADDRESS');
    expect(alloc.hint).toMatch(/answered, but not as a TURN server/);
    expect(r.json.checks.map((c) => c.hint).join(' ')).not.toMatch(/no answer/);
    expect(r.stderr).toBe('');
  });
});
