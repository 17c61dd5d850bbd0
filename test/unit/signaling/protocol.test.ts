import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseJson } from '../../helpers/cli.js';
import { LIMITS, PROTOCOL_VERSION, WIRE_ERRORS, errorMessage, type WireErrorCode, parseClientFrame, parseServerFrame, validateClientMessage } from '../../../src/core/signaling/protocol.js';
import { parsePeerRecord, peerRecordFrom } from '../../../src/core/signaling/bus.js';
import { parseQuery } from '../../../src/core/signaling/http.js';
import { joinReply, reapReply } from '../../../src/core/signaling/redis-bus.js';
import { MIN_SECRET_BYTES, mintToken, verifyToken, weakSecretWarning } from '../../../src/core/signaling/token.js';

const codeOf = (text: string) => {
  const r = parseClientFrame(text);
  return r.ok ? 'ok' : r.code;
};

describe('signal protocol validator', () => {
  it('accepts every client message type with its required fields', () => {
    expect(parseClientFrame('{"type":"join","room":"r1"}')).toEqual({ ok: true, msg: { type: 'join', room: 'r1' } });
    expect(parseClientFrame(JSON.stringify({ type: 'join', room: 'r', peerId: 'alice', token: 't', meta: { name: 'A' }, v: 1 }))).toEqual({
      ok: true,
      msg: { type: 'join', room: 'r', peerId: 'alice', token: 't', meta: { name: 'A' }, v: 1 },
    });
    expect(parseClientFrame('{"type":"signal","to":"bob","data":{"sdp":"x"}}')).toEqual({ ok: true, msg: { type: 'signal', to: 'bob', data: { sdp: 'x' } } });
    expect(parseClientFrame('{"type":"signal","to":"bob","data":null}')).toEqual({ ok: true, msg: { type: 'signal', to: 'bob', data: null } });
    expect(parseClientFrame('{"type":"broadcast","data":[1,2]}')).toEqual({ ok: true, msg: { type: 'broadcast', data: [1, 2] } });
    expect(parseClientFrame('{"type":"leave"}')).toEqual({ ok: true, msg: { type: 'leave' } });
    expect(parseClientFrame('{"type":"ping","ts":12.5}')).toEqual({ ok: true, msg: { type: 'ping', ts: 12.5 } });
  });

  it('drops unknown fields instead of passing them on', () => {
    const r = parseClientFrame('{"type":"signal","to":"bob","data":1,"from":"mallory"}');
    expect(r).toEqual({ ok: true, msg: { type: 'signal', to: 'bob', data: 1 } });
  });

  it('classifies every kind of bad input with its wire code', () => {
    expect(codeOf('{not json')).toBe('BAD_JSON');
    expect(codeOf('')).toBe('BAD_JSON');
    expect(codeOf('[1,2]')).toBe('BAD_MESSAGE');
    expect(codeOf('"join"')).toBe('BAD_MESSAGE');
    expect(codeOf('null')).toBe('BAD_MESSAGE');
    expect(codeOf('{"type":7}')).toBe('BAD_MESSAGE');
    expect(codeOf('{"type":"offer"}')).toBe('UNKNOWN_TYPE');
    expect(codeOf('{"type":"joined","peerId":"x","peers":[]}')).toBe('UNKNOWN_TYPE');
    expect(codeOf('{"type":"join"}')).toBe('BAD_FIELD');
    expect(codeOf('{"type":"join","room":""}')).toBe('BAD_FIELD');
    expect(codeOf(JSON.stringify({ type: 'join', room: 'x'.repeat(LIMITS.roomLength + 1) }))).toBe('BAD_FIELD');
    expect(codeOf('{"type":"join","room":"a\\u0000b"}')).toBe('BAD_FIELD');
    expect(codeOf('{"type":"join","room":"r","peerId":"bad id"}')).toBe('BAD_FIELD');
    expect(codeOf('{"type":"join","room":"r","meta":[1]}')).toBe('BAD_FIELD');
    expect(codeOf(JSON.stringify({ type: 'join', room: 'r', meta: { x: 'y'.repeat(LIMITS.metaBytes) } }))).toBe('BAD_FIELD');
    expect(codeOf('{"type":"join","room":"r","token":5}')).toBe('BAD_FIELD');
    expect(codeOf('{"type":"signal","data":1}')).toBe('BAD_FIELD');
    expect(codeOf('{"type":"signal","to":"bob"}')).toBe('BAD_FIELD');
    expect(codeOf('{"type":"broadcast"}')).toBe('BAD_FIELD');
    expect(codeOf('{"type":"ping"}')).toBe('BAD_FIELD');
    expect(codeOf('{"type":"ping","ts":"now"}')).toBe('BAD_FIELD');
    expect(codeOf('{"type":"leave","v":2}')).toBe('BAD_VERSION');
  });

  it('has a description for every wire code and caps error text', () => {
    const codes = Object.keys(WIRE_ERRORS) as WireErrorCode[];
    expect(codes.length).toBeGreaterThanOrEqual(20);
    for (const code of codes) {
      const description = WIRE_ERRORS[code];
      expect(description, code).toMatch(/^[a-z`].{9,}/);
      expect(description.length, code).toBeLessThanOrEqual(LIMITS.errorMessageLength);
      // The default message of an error is the code's description.
      expect(errorMessage(code), code).toEqual({ type: 'error', code, message: description });
    }
    expect(new Set(codes.map((c) => WIRE_ERRORS[c])).size).toBe(codes.length);
    expect(parseClientFrame('{"type":"offer"}')).toEqual({ ok: false, code: 'UNKNOWN_TYPE', message: expect.any(String) });
    expect(errorMessage('BAD_JSON', 'x'.repeat(1000)).message.length).toBeLessThanOrEqual(LIMITS.errorMessageLength);
    expect(errorMessage('ROOM_FULL', undefined, 'join')).toEqual({ type: 'error', code: 'ROOM_FULL', message: WIRE_ERRORS.ROOM_FULL, ref: 'join' });
    expect(validateClientMessage({ type: 'leave', v: PROTOCOL_VERSION })).toEqual({ ok: true, msg: { type: 'leave', v: 1 } });
  });

  it('parses relay messages on the client side and rejects malformed ones', () => {
    expect(parseServerFrame('{"type":"joined","room":"r","peerId":"a","peers":[],"v":1}')?.type).toBe('joined');
    expect(parseServerFrame('{"type":"signal","from":"a","data":1}')?.type).toBe('signal');
    expect(parseServerFrame('{"type":"joined","room":"r"}')).toBeUndefined();
    expect(parseServerFrame('{"type":"error","code":"X"}')).toBeUndefined();
    expect(parseServerFrame('nope')).toBeUndefined();
    expect(parseServerFrame('{"type":"whatever"}')).toBeUndefined();
  });
});

describe('join tokens (JWT HS256)', () => {
  const secret = 'correct horse battery staple';
  const now = Date.UTC(2026, 0, 1);

  it('round-trips the claims and matches an independent HS256 computation', () => {
    const token = mintToken(secret, { room: 'r1', identity: 'alice', ttlSeconds: 60, now });
    const [h, p, s] = token.split('.');
    expect(parseJson(Buffer.from(h!, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(parseJson(Buffer.from(p!, 'base64url').toString())).toEqual({ room: 'r1', sub: 'alice', iat: now / 1000, exp: now / 1000 + 60 });
    expect(s).toBe(createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url'));
    expect(verifyToken(token, secret, now + 1000)).toEqual({ ok: true, claims: { room: 'r1', sub: 'alice', iat: now / 1000, exp: now / 1000 + 60 } });
  });

  it('refuses expired, forged, altered, alg=none and malformed tokens', () => {
    const token = mintToken(secret, { room: 'r1', identity: 'alice', ttlSeconds: 60, now });
    expect(verifyToken(token, secret, now + 60_000)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyToken(token, 'other secret', now)).toEqual({ ok: false, reason: 'signature' });
    const [h, , s] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ room: 'r2', sub: 'alice', iat: 0, exp: 4e9 })).toString('base64url');
    expect(verifyToken(`${h}.${forged}.${s}`, secret, now)).toEqual({ ok: false, reason: 'signature' });
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    expect(verifyToken(`${none}.${forged}.`, secret, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyToken('a.b', secret, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyToken('!!.??.**', secret, now)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('warns about a secret shorter than the HS256 output (32 bytes, counted as UTF-8)', () => {
    expect(MIN_SECRET_BYTES).toBe(32);
    expect(weakSecretWarning('x'.repeat(31))).toMatch(/^the secret is 31 bytes; HS256 needs at least 32 \(RFC 7518 section 3\.2\)/);
    expect(weakSecretWarning('x')).toMatch(/is 1 byte;/);
    expect(weakSecretWarning('x'.repeat(32))).toBeUndefined();
    // 16 two-byte characters are 32 bytes.
    expect(weakSecretWarning('é'.repeat(16))).toBeUndefined();
    expect(weakSecretWarning('é'.repeat(15))).toMatch(/is 30 bytes/);
  });
});

describe('relay HTTP query parameters', () => {
  const spec = { limit: { min: 1, max: 10_000 } };
  const q = (s: string) => parseQuery(new URLSearchParams(s), spec);

  it('accepts integers in range and no parameters', () => {
    expect(q('')).toEqual({});
    expect(q('limit=1')).toEqual({ limit: 1 });
    expect(q('limit=10000')).toEqual({ limit: 10_000 });
  });

  it('refuses bad values, repeats and unknown names instead of ignoring them', () => {
    const range = 'limit must be an integer from 1 to 10000';
    for (const bad of ['limit=-1', 'limit=0', 'limit=abc', 'limit=', 'limit=1e3', 'limit=+5', 'limit=10001', 'limit=99999999999999']) {
      expect(q(bad), bad).toBe(range);
    }
    expect(q('limit=1&limit=1')).toBe('query parameter "limit" is repeated');
    expect(q('limti=5')).toMatch(/^unknown query parameter "limti"/);
    expect(q('limit=5&x=1')).toMatch(/^unknown query parameter "x"/);
    expect(q('limit=abc')).toBe('limit must be an integer from 1 to 10000');
    expect(q('x=1')).toMatch(/unknown query parameter "x" \(this endpoint takes limit\)/);
    expect(parseQuery(new URLSearchParams('a=1'), {})).toMatch(/takes none/);
  });
});

describe('presence records and Redis script replies', () => {
  const rec = { peerId: 'alice', instance: 'relay-1', joinedAt: 1_700_000_000_000 };
  // [case, value read back, the record it gives (undefined: refused)]
  const records: [string, unknown, unknown][] = [
    ['a plain record', rec, rec],
    ['with meta', { ...rec, meta: { name: 'A' } }, { ...rec, meta: { name: 'A' } }],
    ['extra fields are dropped', { ...rec, admin: true }, rec],
    ['not an object', 'alice', undefined],
    ['an array', [rec], undefined],
    ['a bad peerId', { ...rec, peerId: 'has space' }, undefined],
    ['no instance', { peerId: 'alice', joinedAt: 1 }, undefined],
    ['a bad instance id', { ...rec, instance: 'a/b' }, undefined],
    ['joinedAt as text', { ...rec, joinedAt: '2024-01-01' }, undefined],
    ['joinedAt negative', { ...rec, joinedAt: -5 }, undefined],
    ['meta not an object', { ...rec, meta: 'x' }, undefined],
    ['meta too large', { ...rec, meta: { x: 'y'.repeat(5000) } }, undefined],
  ];
  it.each(records)('peerRecordFrom: %s', (_name, value, expected) => {
    expect(peerRecordFrom(value)).toEqual(expected);
  });

  it('parsePeerRecord refuses text that is not JSON', () => {
    expect(parsePeerRecord('{"peerId":')).toBeUndefined();
    expect(parsePeerRecord(JSON.stringify(rec))).toEqual(rec);
  });

  it('reads the join reply: refusals, the roster, and skips (counting) records that do not validate', () => {
    for (const code of ['ROOM_FULL', 'TOO_MANY_ROOMS', 'PEER_ID_TAKEN']) expect(joinReply([code])).toEqual({ outcome: { ok: false, code }, malformed: 0 });
    const bob = { ...rec, peerId: 'bob' };
    expect(joinReply(['OK', 'alice', JSON.stringify(rec), 'bob', JSON.stringify(bob), 'eve', 'garbage', 'mallory', JSON.stringify(bob)])).toEqual({
      outcome: { ok: true, peers: [rec, bob] },
      malformed: 2,
    });
    for (const bad of [undefined, 'OK', [], ['NOPE'], ['OK', 'alice'], ['OK', 1, 2], [1]]) expect(() => joinReply(bad), JSON.stringify(bad)).toThrow(/unexpected reply to join/);
  });

  it('reads the reap reply', () => {
    expect(reapReply(['room-1\nalice', 'room/2\nbob', 'no-separator'])).toEqual([{ room: 'room-1', peerId: 'alice' }, { room: 'room/2', peerId: 'bob' }]);
    expect(reapReply([])).toEqual([]);
    expect(() => reapReply(3)).toThrow(/unexpected reply to reap/);
  });
});
