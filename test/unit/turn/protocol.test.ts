import { describe, expect, it } from 'vitest';
import { RtcprobeError } from '../../../src/core/errors.js';
import { rtcprobeErrorFrom } from '../../helpers/errors.js';
import { encodeErrorCode, encodeXorAddress, readUint32, readXorAddress, stringAttr } from '../../../src/core/stun/attributes.js';
import { Attr, StunClass, StunMethod } from '../../../src/core/stun/constants.js';
import { appendFingerprint, appendIntegrity, longTermKey, verifyFingerprint, verifyIntegrity } from '../../../src/core/stun/integrity.js';
import { decodeMessage, encodeMessage, getAttribute, type AttributeInput } from '../../../src/core/stun/message.js';
import { classifyAddress, FORBIDDEN_PEERS } from '../../../src/core/turn/addresses.js';
import { pickCredentials } from '../../../src/commands/turn.js';
import { BandwidthRamp } from '../../../src/core/turn/bandwidth.js';
import { judgeRelayAddress } from '../../../src/core/turn/stages/allocate.js';
import { plainTlsText } from '../../../src/core/turn/stages/connect.js';
import {
  allocateAttributes, channelBindAttributes, decodeChannelData, decodeDataIndication, encodeChannelData,
  encodeSendIndication, isChannelData, isDataIndication, readAllocateSuccess, TurnAuth,
} from '../../../src/core/turn/protocol.js';

function errorResponse(method: number, tid: Buffer, code: number, extra: { realm?: string; nonce?: string } = {}): ReturnType<typeof decodeMessage> {
  const attrs: AttributeInput[] = [{ type: Attr.ErrorCode, value: encodeErrorCode(code, 'x') }];
  if (extra.realm !== undefined) attrs.push(stringAttr(Attr.Realm, extra.realm));
  if (extra.nonce !== undefined) attrs.push(stringAttr(Attr.Nonce, extra.nonce));
  return decodeMessage(encodeMessage({ method, cls: StunClass.ErrorResponse, transactionId: tid, attributes: attrs }));
}

describe('ChannelData framing (RFC 8656 §12.4)', () => {
  it('frames without padding over UDP and with padding to 4 bytes over streams', () => {
    const data = Buffer.from('hello');
    const udp = encodeChannelData(0x4000, data, false);
    expect(udp.toString('hex')).toBe('40000005' + data.toString('hex'));
    const tcp = encodeChannelData(0x4001, data, true);
    expect(tcp.length).toBe(12);
    expect(tcp.readUInt16BE(2)).toBe(5);
    expect(decodeChannelData(tcp)).toEqual({ channel: 0x4001, data });
    expect(isChannelData(udp)).toBe(true);
  });

  it('refuses channel numbers outside 0x4000-0x4FFF and rejects truncated frames', () => {
    expect(() => encodeChannelData(0x3fff, Buffer.alloc(1), false)).toThrow(RangeError);
    expect(() => encodeChannelData(0x5000, Buffer.alloc(1), false)).toThrow(RangeError);
    expect(decodeChannelData(Buffer.from('4000000a0102', 'hex'))).toBeUndefined();
    expect(decodeChannelData(Buffer.from('0001000000', 'hex'))).toBeUndefined();
  });
});

describe('Send and Data indications', () => {
  it('a Send indication carries XOR-PEER-ADDRESS and DATA', () => {
    const buf = encodeSendIndication({ address: '192.0.2.7', port: 50000 }, Buffer.from('abc'));
    const msg = decodeMessage(buf);
    expect(msg.method).toBe(StunMethod.Send);
    expect(msg.cls).toBe(StunClass.Indication);
    expect(readXorAddress(msg, Attr.XorPeerAddress)).toEqual({ family: 4, address: '192.0.2.7', port: 50000 });
    expect(getAttribute(msg, Attr.Data)!.value.toString()).toBe('abc');
  });

  it('a Data indication is recognised by its type and decoded', () => {
    const tid = Buffer.alloc(12, 7);
    const buf = encodeMessage({
      method: StunMethod.Data, cls: StunClass.Indication, transactionId: tid,
      attributes: [{ type: Attr.XorPeerAddress, value: encodeXorAddress({ address: '2001:db8::1', port: 9 }, tid) }, { type: Attr.Data, value: Buffer.from([1, 2, 3]) }],
    });
    expect(isDataIndication(buf)).toBe(true);
    expect(decodeDataIndication(buf)).toEqual({ peer: { family: 6, address: '2001:db8::1', port: 9 }, data: Buffer.from([1, 2, 3]) });
    // A Send indication is not a Data indication.
    expect(isDataIndication(encodeSendIndication({ address: '192.0.2.1', port: 1 }, Buffer.alloc(0)))).toBe(false);
  });
});

describe('TurnAuth: the long-term credential state machine', () => {
  const creds = { username: 'alice', password: 'pw-one' };

  it('first request is unsigned; a 401 with REALM and NONCE leads to a signed retry', () => {
    const auth = new TurnAuth(creds);
    const first = decodeMessage(auth.build(StunMethod.Allocate, allocateAttributes()));
    expect(getAttribute(first, Attr.MessageIntegrity)).toBeUndefined();
    expect(verifyFingerprint(first)).toBe('ok');
    expect(auth.interpret(errorResponse(StunMethod.Allocate, first.transactionId, 401, { realm: 'r.test', nonce: 'n1' }))).toEqual({ kind: 'retry', reason: 'challenge' });
    const second = decodeMessage(auth.build(StunMethod.Allocate, allocateAttributes({ lifetime: 300 })));
    expect(second.attributes.map((a) => a.type)).toEqual([
      Attr.RequestedTransport, Attr.Lifetime, Attr.Username, Attr.Realm, Attr.Nonce, Attr.MessageIntegrity, Attr.Fingerprint,
    ]);
    expect(readUint32(second, Attr.Lifetime)).toBe(300);
    expect(verifyIntegrity(second, longTermKey('alice', 'r.test', 'pw-one'))).toBe('ok');
  });

  it('a 401 after a signed request means the credentials were rejected', () => {
    const auth = new TurnAuth(creds);
    const tid = Buffer.alloc(12, 1);
    auth.build(StunMethod.Allocate, []);
    auth.interpret(errorResponse(StunMethod.Allocate, tid, 401, { realm: 'r', nonce: 'n' }));
    auth.build(StunMethod.Allocate, []);
    const v = auth.interpret(errorResponse(StunMethod.Allocate, tid, 401, { realm: 'r', nonce: 'n2' }));
    expect(v).toMatchObject({ kind: 'error', code: 401, rejected: true });
  });

  it('438 Stale Nonce takes the new nonce, a bounded number of times', () => {
    const auth = new TurnAuth(creds, 2);
    const tid = Buffer.alloc(12, 2);
    auth.build(StunMethod.Refresh, []);
    auth.interpret(errorResponse(StunMethod.Refresh, tid, 401, { realm: 'r', nonce: 'n1' }));
    for (const n of ['n2', 'n3']) {
      auth.build(StunMethod.Refresh, []);
      expect(auth.interpret(errorResponse(StunMethod.Refresh, tid, 438, { nonce: n }))).toEqual({ kind: 'retry', reason: 'stale-nonce' });
      expect(auth.nonce).toBe(n);
    }
    auth.build(StunMethod.Refresh, []);
    expect(auth.interpret(errorResponse(StunMethod.Refresh, tid, 438, { nonce: 'n4' }))).toMatchObject({ kind: 'error', code: 438 });
  });

  it('without credentials a 401 is final and not "rejected"', () => {
    const auth = new TurnAuth();
    auth.build(StunMethod.Allocate, []);
    expect(auth.interpret(errorResponse(StunMethod.Allocate, Buffer.alloc(12), 401, { realm: 'r', nonce: 'n' }))).toMatchObject({ kind: 'error', code: 401, rejected: false });
  });

  it('checks MESSAGE-INTEGRITY of success responses once a key exists', () => {
    const auth = new TurnAuth(creds);
    const tid = Buffer.alloc(12, 3);
    auth.build(StunMethod.Allocate, []);
    auth.interpret(errorResponse(StunMethod.Allocate, tid, 401, { realm: 'r', nonce: 'n' }));
    auth.build(StunMethod.Allocate, []);
    const body = encodeMessage({
      method: StunMethod.Allocate, cls: StunClass.SuccessResponse, transactionId: tid,
      attributes: [{ type: Attr.XorRelayedAddress, value: encodeXorAddress({ address: '198.51.100.9', port: 49200 }, tid) }],
    });
    const good = decodeMessage(appendFingerprint(appendIntegrity(body, longTermKey('alice', 'r', 'pw-one'))));
    expect(auth.interpret(good)).toMatchObject({ kind: 'success', integrity: 'ok' });
    expect(readAllocateSuccess(good)!.relayed).toEqual({ family: 4, address: '198.51.100.9', port: 49200 });
    const forged = decodeMessage(appendIntegrity(body, longTermKey('alice', 'r', 'other')));
    expect(auth.interpret(forged)).toMatchObject({ kind: 'success', integrity: 'mismatch' });
  });

  it('skips the empty IPv4 XOR-RELAYED-ADDRESS coturn puts before a granted IPv6 one', () => {
    const tid = Buffer.alloc(12, 4);
    const msg = decodeMessage(encodeMessage({
      method: StunMethod.Allocate, cls: StunClass.SuccessResponse, transactionId: tid,
      attributes: [
        { type: Attr.XorRelayedAddress, value: encodeXorAddress({ address: '0.0.0.0', port: 0 }, tid) },
        { type: Attr.XorRelayedAddress, value: encodeXorAddress({ address: '2001:db8::5', port: 49999 }, tid) },
      ],
    }));
    expect(readAllocateSuccess(msg)!.relayed).toEqual({ family: 6, address: '2001:db8::5', port: 49999 });
  });

  it('ChannelBind carries CHANNEL-NUMBER and an XOR-PEER-ADDRESS bound to the transaction ID', () => {
    const auth = new TurnAuth();
    const msg = decodeMessage(auth.build(StunMethod.ChannelBind, (tid) => channelBindAttributes(0x4abc, { address: '203.0.113.5', port: 3478 }, tid)));
    expect(getAttribute(msg, Attr.ChannelNumber)!.value.readUInt16BE(0)).toBe(0x4abc);
    expect(readXorAddress(msg, Attr.XorPeerAddress)).toEqual({ family: 4, address: '203.0.113.5', port: 3478 });
  });
});

describe('address classes', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['10.1.2.3', 'private'], ['172.31.255.255', 'private'], ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'], ['100.64.0.1', 'cgnat'], ['100.128.0.1', 'public'], ['169.254.169.254', 'link-local'],
    ['0.0.0.0', 'unspecified'], ['224.0.0.1', 'multicast'], ['255.255.255.255', 'broadcast'], ['203.0.113.9', 'documentation'],
    ['8.8.8.8', 'public'], ['::1', 'loopback'], ['::', 'unspecified'], ['fd12::1', 'ula'], ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'], ['::ffff:127.0.0.1', 'loopback'], ['::ffff:10.0.0.1', 'private'], ['2001:db8::1', 'documentation'],
    ['2a00:1450::1', 'public'],
  ])('%s is %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls);
  });

  it('every forbidden peer probe is in the class it claims, and none is public', () => {
    expect(FORBIDDEN_PEERS.length).toBeGreaterThanOrEqual(10);
    for (const p of FORBIDDEN_PEERS) {
      expect(p.cls).not.toBe('public');
      expect(classifyAddress(p.address)).toBe(p.cls);
      expect(p.fix).toMatch(/denied-peer-ip|allow-loopback-peers|no-multicast-peers/);
    }
  });
});

describe('relayed address versus the address the server was reached on', () => {
  it('a public relayed address equal to the server address passes with nothing to add', () => {
    expect(judgeRelayAddress('203.0.113.7', '203.0.113.7', true)).toEqual({ status: 'pass', note: '', hint: '' });
    expect(judgeRelayAddress('2001:db8::7', '2001:db8::7', false)).toEqual({ status: 'pass', note: '', hint: '' });
  });

  it.each([
    // [relayed, server, status, text in the note or hint]
    ['10.0.0.5', '203.0.113.7', 'warn', 'external-ip'],
    ['172.20.1.1', '198.51.100.1', 'warn', 'private address'],
    ['100.64.3.3', '198.51.100.1', 'warn', 'cgnat'],
    ['127.0.0.1', '203.0.113.7', 'warn', 'loopback relayed address'],
    ['127.0.0.1', '127.0.0.1', 'pass', 'a test on this host'],
    ['::1', '::1', 'pass', 'a test on this host'],
    ['10.0.0.5', '10.0.0.1', 'pass', 'reachable only inside that network'],
    ['198.51.100.9', '203.0.113.7', 'warn', 'relay-ip deliberately names another public interface'],
    ['fd00::5', '2001:db8::1', 'warn', 'ula'],
  ] as const)('%s reached via %s: %s', (relayed, server, status, text) => {
    const v = judgeRelayAddress(relayed, server, true);
    expect(v.status).toBe(status);
    expect(text).not.toBe('');
    expect(v.note + v.hint).toContain(text);
  });

  it('names coturn options only for coturn; otherwise states what the RFC requires', () => {
    const other = judgeRelayAddress('10.0.0.5', '203.0.113.7', false);
    expect(other.status).toBe('warn');
    expect(other.hint).not.toMatch(/coturn|external-ip|relay-ip/);
    expect(other.hint).toContain('XOR-RELAYED-ADDRESS');
    expect(judgeRelayAddress('10.0.0.5', '203.0.113.7', true).hint).toContain('external-ip');
  });
});

describe('TLS errors in plain words', () => {
  it.each([
    ['TLS connect: 804CC4CE177F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n', /not TLS/],
    ['read ECONNRESET', /closed the connection during the TLS handshake/],
    ['Client network socket disconnected before secure TLS connection was established', /closed the connection/],
    ['C0D7:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1605:SSL alert number 40', /no TLS version or cipher in common/],
    ['80:error:0A0000FF:SSL routines:frob:something new:../deps/openssl/openssl/ssl/x.c:12:', /something new/],
  ])('%j', (raw, words) => {
    const out = plainTlsText(raw);
    expect(out).toMatch(words);
    expect(out).not.toMatch(/\.c:\d+|deps\/openssl|[0-9A-F]{8,}:error/);
    // Applied twice (by the stream channel, then by a turn row), the words stay the same.
    expect(plainTlsText(out)).toBe(out);
  });
});

describe('bandwidth ramp', () => {
  const step = (targetBps: number, loss: number, sentShare = 1) => ({
    targetBps, sentBps: Math.round(targetBps * sentShare), receivedBps: Math.round(targetBps * (1 - loss)), sent: 100, received: Math.round(100 * (1 - loss)), loss,
  });
  const o = { startBps: 100, maxBps: 10_000, factor: 2, lossThreshold: 0.01 };

  it('doubles from the start until loss, retries the lossy rate once, reports the best rate that passed and where loss began', () => {
    const r = new BandwidthRamp(o);
    const asked: number[] = [];
    const loss: Record<number, number> = { 800: 0.2 };
    for (let t = r.next(); t !== undefined; t = r.next()) {
      asked.push(t);
      r.record(step(t, loss[t] ?? 0));
    }
    // Doubling to the first loss (confirmed once), then two steps between 400 and 800: 566 passes, 673 passes.
    expect(asked).toEqual([100, 200, 400, 800, 800, 566, 673]);
    const res = r.result(1000);
    expect(res.stoppedBy).toBe('loss');
    expect(res.bestBps).toBe(673);
    expect(res.lossStartBps).toBe(800);
  });

  it('a losing refinement step becomes the new loss start', () => {
    const r = new BandwidthRamp(o);
    const asked: number[] = [];
    for (let t = r.next(); t !== undefined; t = r.next()) {
      asked.push(t);
      r.record(step(t, t >= 500 ? 0.3 : 0));
    }
    expect(asked).toEqual([100, 200, 400, 800, 800, 566, 566, 476]);
    const res = r.result(1000);
    expect(res.bestBps).toBe(476);
    expect(res.lossStartBps).toBe(566);
  });

  it('a single lossy step on a loaded machine does not end the ramp', () => {
    const r = new BandwidthRamp(o);
    const seen = new Map<number, number>();
    for (let t = r.next(); t !== undefined; t = r.next()) {
      const n = (seen.get(t) ?? 0) + 1;
      seen.set(t, n);
      r.record(step(t, t === 400 && n === 1 ? 0.5 : 0));
    }
    const res = r.result(1000);
    expect(res.stoppedBy).toBe('max');
    expect(res.bestBps).toBe(10_000);
    expect(res.lossStartBps).toBeUndefined();
  });

  it('silence at the first rate gives no figure, never 0', () => {
    const r = new BandwidthRamp(o);
    r.record(step(100, 1));
    expect(r.next()).toBeUndefined();
    const res = r.result(1000);
    expect(res.stoppedBy).toBe('silence');
    expect(res.bestBps).toBeUndefined();
  });

  it('stops when this machine cannot send at the rate asked for', () => {
    const r = new BandwidthRamp(o);
    r.record(step(100, 0));
    r.record(step(200, 0, 0.5));
    expect(r.next()).toBeUndefined();
    expect(r.result(1000).stoppedBy).toBe('sender');
  });
});

describe('credentials: flags and files win over the environment', () => {
  const env = (e: Record<string, string>) => e;
  it.each([
    [{ user: 'u', password: 'p' }, env({ RTCPROBE_TURN_SECRET: 's' }), false, { user: 'u', password: 'p' }],
    [{ secret: 'flag' }, env({ RTCPROBE_TURN_PASSWORD: 'p' }), false, { secret: 'flag' }],
    [{ user: 'u' }, env({ RTCPROBE_TURN_PASSWORD: 'p' }), false, { user: 'u', password: 'p' }],
    [{ user: 'u' }, env({ RTCPROBE_TURN_SECRET: 's' }), false, { user: 'u', secret: 's' }],
    [{}, env({ RTCPROBE_TURN_SECRET: 's' }), false, { secret: 's' }],
    [{}, env({ RTCPROBE_TURN_PASSWORD: 'p' }), true, {}],
    [{}, env({}), false, {}],
  ] as const)('%j with %j (file: %s)', (opts, e, file, expected) => {
    expect(pickCredentials({ ...opts }, e, file)).toEqual(expected);
  });

  it.each([
    [{}, env({ RTCPROBE_TURN_PASSWORD: 'p' }), false, /RTCPROBE_TURN_PASSWORD is set but no --user/],
    [{ user: 'u' }, env({ RTCPROBE_TURN_PASSWORD: 'p', RTCPROBE_TURN_SECRET: 's' }), false, /both RTCPROBE_TURN_SECRET and RTCPROBE_TURN_PASSWORD/],
    [{ password: 'p' }, env({}), true, /--password needs --user/],
    [{ secret: 's', password: 'p', user: 'u' }, env({}), false, /exclude each other/],
    [{ user: 'u' }, env({}), false, /--user needs --password/],
  ] as const)('refuses %j with %j', (opts, e, file, message) => {
    expect(() => pickCredentials({ ...opts }, e, file)).toThrow(message);
  });
});
