import { describe, expect, it } from 'vitest';
import { MASK, maskSecret, maskUrlPassword, maskUserinfo, redact } from '../../src/core/secrets.js';
import { maskRedisUrl } from '../../src/core/signaling/redis-bus.js';

describe('maskSecret', () => {
  it.each([
    [undefined, ''],
    ['', ''],
    ['a', '***'],
    ['abcd', '***'],
    ['abcde', 'ab***'],
    ['correct-horse', 'co***'],
    ['1700000600:alice', '17***'],
  ] as const)('%j -> %j', (secret, want) => {
    expect(maskSecret(secret)).toBe(want);
    if (secret && secret.length > 2) expect(maskSecret(secret)).not.toContain(secret.slice(2));
  });
});

const USERINFO: [string, string][] = [
  ['turn:example.org:3478', 'turn:example.org:3478'],
  ['turn:bob:pw@example.org', 'turn:***@example.org'],
  ['TURNS:bob:pw@example.org:5349?transport=tcp', 'TURNS:***@example.org:5349?transport=tcp'],
  ['stun:a@b@192.0.2.1', 'stun:***@192.0.2.1'],
  ['bob:pw@192.0.2.1:3478', '***@192.0.2.1:3478'],
  ['  turn:u@h', '  turn:***@h'],
  ['turn:', 'turn:'],
];

describe('maskUserinfo', () => {
  it.each(USERINFO)('%s -> %s', (input, want) => {
    expect(maskUserinfo(input)).toBe(want);
  });
});

describe('maskUrlPassword', () => {
  it.each([
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['redis://:hunter22@127.0.0.1:6379/0', 'redis://:***@127.0.0.1:6379/0'],
    ['rediss://app:hunter22@redis.test:6380', 'rediss://app:***@redis.test:6380'],
    ['redis://app@127.0.0.1', 'redis://app@127.0.0.1'],
    ['redis://:hunter22@[not a url', 'redis://?'],
    ['no scheme hunter22', 'url://?'],
  ])('%s -> %s', (url, want) => {
    expect(maskUrlPassword(url)).toBe(want);
    expect(maskRedisUrl(url)).toBe(want);
    expect(maskUrlPassword(url)).not.toContain('hunter22');
  });
});

describe('redact', () => {
  it.each([
    ['user correct-horse failed', ['correct-horse'], 'user co*** failed'],
    ['a correct-horse and a correct-horse', ['correct-horse'], 'a co*** and a co***'],
    ['wrong password', ['wrong'], 'wrong password'],
    ['nothing to hide', [undefined, ''], 'nothing to hide'],
    ['k=0123456789 p=abcdefghij', ['0123456789', 'abcdefghij'], 'k=01*** p=ab***'],
  ] as const)('%s', (text, secrets, want) => {
    expect(redact(text, [...secrets])).toBe(want);
  });

  it('every mask is the same marker', () => {
    expect(maskSecret('abcdefgh').endsWith(MASK)).toBe(true);
    expect(maskUserinfo('turn:u:p@h')).toContain(MASK);
    expect(maskUrlPassword('redis://:p@h')).toContain(MASK);
  });
});
