import { describe, expect, it } from 'vitest';
import { RtcprobeError } from '../../src/core/errors.js';
import { rtcprobeErrorFrom } from '../helpers/errors.js';
import { effectiveTransport, maskUserinfo, parseServer } from '../../src/core/uri.js';

describe('parseServer', () => {
  it.each([
    ['stun.example.org', { scheme: 'stun', host: 'stun.example.org', port: 3478, explicitPort: false }],
    ['stun.example.org:19302', { host: 'stun.example.org', port: 19302, explicitPort: true }],
    ['192.0.2.1', { host: '192.0.2.1', port: 3478 }],
    ['192.0.2.1:1', { host: '192.0.2.1', port: 1 }],
    ['[2001:db8::1]:3479', { host: '2001:db8::1', port: 3479 }],
    ['[::1]', { host: '::1', port: 3478 }],
    ['2001:db8::1', { host: '2001:db8::1', port: 3478 }],
    ['stun:example.org', { scheme: 'stun', host: 'example.org', port: 3478 }],
    ['STUN:example.org:1234', { scheme: 'stun', port: 1234 }],
    ['stuns:example.org', { scheme: 'stuns', port: 5349, transport: 'tls' }],
    ['stun:[2001:db8::2]:5000', { host: '2001:db8::2', port: 5000 }],
    ['turn:example.org?transport=tcp', { scheme: 'turn', transport: 'tcp', port: 3478 }],
    ['turn:example.org:80?transport=udp', { scheme: 'turn', transport: 'udp', port: 80 }],
    ['turns:example.org', { scheme: 'turns', transport: 'tls', port: 5349 }],
    ['turns:example.org:443?transport=tcp', { scheme: 'turns', transport: 'tls', port: 443 }],
  ])('%s', (input, expected) => {
    expect(parseServer(input)).toMatchObject(expected);
  });

  it.each([
    '', 'a b', 'host:', 'host:0', 'host:65536', 'host:12x', '2001:db8::1:99999', '[2001:db8::1', '[nothost]:1',
    'stun://example.org', 'http://example.org', 'stun:example.org?transport=udp', 'turn:example.org?transport=sctp',
    'turns:example.org?transport=udp', '-bad-.example', '999.1.1.1', 'exa_mple..org',
  ])('rejects %j with BAD_SERVER', (input) => {
    expect(rtcprobeErrorFrom(() => parseServer(input), 'BAD_SERVER').message).toMatch(/invalid server/);
  });
});

describe('effectiveTransport', () => {
  it('uses 5349 for TLS when no port was given', () => {
    expect(effectiveTransport(parseServer('example.org'), 'tls')).toEqual({ transport: 'tls', port: 5349 });
    expect(effectiveTransport(parseServer('example.org:443'), 'tls')).toEqual({ transport: 'tls', port: 443 });
    expect(effectiveTransport(parseServer('example.org'))).toEqual({ transport: 'udp', port: 3478 });
  });
  it('refuses a stuns: URI with --transport udp', () => {
    expect(() => effectiveTransport(parseServer('stuns:example.org'), 'udp')).toThrow(/means TLS/);
  });
  it.each([
    ['turn:example.org', 'udp', 3478],
    ['turn:example.org?transport=tcp', 'tcp', 3478],
    ['turn:example.org:80?transport=udp', 'udp', 80],
    ['turns:example.org', 'tls', 5349],
    ['turns:example.org:443?transport=tcp', 'tls', 443],
  ] as const)('reads the transport of the TURN URI %s (RFC 7065)', (input, transport, port) => {
    expect(effectiveTransport(parseServer(input, 'turn'))).toEqual({ transport, port });
  });
});

describe('user information in a URI', () => {
  it.each([
    'turn:alice:S3cret@turn.example.org',
    'turn:alice:S3cret@turn.example.org:3478?transport=tcp',
    'turns:alice:S3cret@192.0.2.1:443',
    'alice:S3cret@192.0.2.1',
    'turn://alice:S3cret@turn.example.org',
  ])('%s is refused without echoing the password, pointing at --user/--password', (input) => {
    let err: unknown;
    try {
      parseServer(input, 'turn');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RtcprobeError);
    const message = (err as Error).message;
    expect(message).not.toContain('S3cret');
    expect(message).not.toContain('alice');
    expect(message).toContain('***@');
    if (!input.includes('//')) expect(message).toMatch(/--user and --password/);
  });

  it('maskUserinfo leaves URIs without userinfo alone', () => {
    expect(maskUserinfo('turn:example.org:3478')).toBe('turn:example.org:3478');
    expect(maskUserinfo('turn:bob:pw@example.org')).toBe('turn:***@example.org');
  });
});
