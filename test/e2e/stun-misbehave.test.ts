import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeAddress } from '../../src/core/stun/attributes.js';
import { Attr, StunClass, StunMethod } from '../../src/core/stun/constants.js';
import { encodeMessage } from '../../src/core/stun/message.js';
import type { StunJson } from '../../src/commands/stun.js';
import { runCli, runJson, why } from '../helpers/cli.js';
import { errorFor, startResponder, successFor, withFingerprint, type Responder } from '../helpers/responder.js';

let responder: Responder | undefined;
afterEach(async () => {
  await responder?.close();
  responder = undefined;
});

// Fast retransmission so that these cases finish quickly: RTO 50 ms, 3 requests, 300 ms cap.
const FAST = ['--rto', '50', '--rc', '3', '--rm', '4', '--timeout', '300', '--count', '1'];

describe('rtcprobe stun against misbehaving servers', () => {
  it('ignores a reply with the wrong transaction ID and accepts the right one', async () => {
    responder = await startResponder((req, from) => {
      const wrong = Buffer.from(successFor(req, from.port));
      wrong[8] = wrong[8]! ^ 0xff;
      return [{ data: wrong }, { data: successFor(req, from.port) }];
    });
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${responder.port}`, ...FAST]);
    expect(r.code, why(r)).toBe(0);
    const s = r.json.servers[0]!;
    expect(s.ok).toBe(true);
    expect(s.ignored.map((i) => i.reason)).toEqual(['unknown-transaction']);
  });

  it('never accepts a reply from another port; says so with --verbose', async () => {
    responder = await startResponder((req, from) => [{ data: successFor(req, from.port), fromOtherPort: true }]);
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${responder.port}`, ...FAST]);
    expect(r.code, why(r)).toBe(1);
    const s = r.json.servers[0]!;
    expect(s.ok).toBe(false);
    expect(s.error?.code).toBe('TIMEOUT');
    expect(s.ignored.length).toBeGreaterThanOrEqual(1);
    expect(s.ignored.every((i) => i.reason === 'wrong-source')).toBe(true);
    expect(s.ignored[0]!.detail).toContain(`127.0.0.1:${responder.otherPort}`);
    const human = await runCli(['stun', `127.0.0.1:${responder.port}`, ...FAST, '--verbose']);
    expect(human.stdout).toMatch(/wrong-source from 127\.0\.0\.1:\d+: matching transaction ID/);
  });

  it('retransmits on the RFC schedule and times out when nothing answers', async () => {
    responder = await startResponder(() => []);
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${responder.port}`, '--rto', '100', '--rc', '7', '--rm', '16', '--timeout', '1000', '--count', '1']);
    expect(r.code, why(r)).toBe(1);
    expect(r.json.servers[0]!.error?.code).toBe('TIMEOUT');
    // Sends at 0, 100, 300 and 700 ms; the 1500 ms one is past the 1000 ms cap.
    expect(responder.received).toHaveLength(4);
    const tids = new Set(responder.received.map((x) => x.msg!.transactionId.toString('hex')));
    expect(tids.size).toBe(1);
    const gaps = responder.received.slice(1).map((x, i) => x.at - responder!.received[i]!.at);
    // Doubling intervals: each gap clearly longer than the one before.
    expect(gaps[1]!).toBeGreaterThan(gaps[0]! * 1.4);
    expect(gaps[2]!).toBeGreaterThan(gaps[1]! * 1.4);
  });

  it('counts a late answer after a retransmission, and leaves its RTT out', async () => {
    responder = await startResponder((req, from, n) => (n === 2 ? [{ data: successFor(req, from.port) }] : []));
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${responder.port}`, '--rto', '50', '--timeout', '2000', '--count', '1']);
    expect(r.code, why(r)).toBe(0);
    const s = r.json.servers[0]!;
    expect(s.retransmissions).toBe(1);
    expect(s.loss).toBe(0);
    expect((s as unknown as { ambiguousSamples: number }).ambiguousSamples).toBe(1);
  });

  it('reports garbage as ignored, not as an answer', async () => {
    responder = await startResponder((req, from) => [{ data: Buffer.from('\u0001garbage that is not STUN') }, { data: successFor(req, from.port) }]);
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${responder.port}`, ...FAST]);
    expect(r.code, why(r)).toBe(0);
    expect(r.json.servers[0]!.ignored.map((i) => i.reason)).toEqual(['malformed']);
  });

  it('drops a response whose FINGERPRINT is wrong', async () => {
    responder = await startResponder((req, from) => {
      const bad = withFingerprint(successFor(req, from.port));
      bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
      return [{ data: bad }];
    });
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${responder.port}`, ...FAST]);
    expect(r.code, why(r)).toBe(1);
    expect(r.json.servers[0]!.ignored[0]!.reason).toBe('bad-fingerprint');
  });

  it('an error response is reported with its code, and its reason text is sanitised', async () => {
    responder = await startResponder((req) => [{ data: errorFor(req, 400, 'Bad \u001b[31mRequest\u0007') }]);
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${responder.port}`, ...FAST]);
    expect(r.code, why(r)).toBe(1);
    const s = r.json.servers[0]!;
    expect(s.error?.code).toBe('STUN_ERROR_RESPONSE');
    expect(s.errorResponse).toEqual({ code: 400, reason: 'Bad [31mRequest' });
    const human = await runCli(['stun', `127.0.0.1:${responder.port}`, ...FAST]);
    expect(human.stdout).not.toContain('\u0007');
    expect(human.stdout).not.toContain('\u001b');
  });

  it('flags an ALG when MAPPED-ADDRESS differs from XOR-MAPPED-ADDRESS', async () => {
    responder = await startResponder((req, from) => [{
      data: successFor(req, from.port, '127.0.0.1', [{ type: Attr.MappedAddress, value: encodeAddress({ address: '192.0.2.99', port: from.port }) }]),
    }]);
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${responder.port}`, ...FAST]);
    expect(r.code, why(r)).toBe(0);
    expect(r.json.servers[0]!.alg).toBe(true);
    expect(r.json.servers[0]!.legacyMappedAddress?.address).toBe('192.0.2.99');
    const human = await runCli(['stun', `127.0.0.1:${responder.port}`, ...FAST]);
    expect(human.stdout).toMatch(/ALG/);
  });

  it('a success response without any mapped address is a bad response', async () => {
    responder = await startResponder((req) => [{
      data: encodeMessage({ method: StunMethod.Binding, cls: StunClass.SuccessResponse, transactionId: req.transactionId }),
    }]);
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${responder.port}`, ...FAST]);
    expect(r.code, why(r)).toBe(1);
    expect(r.json.servers[0]!.error?.code).toBe('STUN_BAD_RESPONSE');
  });

  it('ICMP port unreachable is reported as UNREACHABLE, quickly', async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${port}`, '--timeout', '10000']);
    expect(r.code, why(r)).toBe(1);
    expect(r.json.servers[0]!.error?.code).toBe('UNREACHABLE');
  });
});
