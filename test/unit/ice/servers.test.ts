import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rtcprobeErrorFrom } from '../../helpers/errors.js';
import { restCredentials, restExpiryOf, restPassword, restUsername } from '../../../src/core/ice/rest.js';
import { parseIceServers, turnServersOf, type IceServer } from '../../../src/core/ice/servers.js';
import { toRtcIceServers } from '../../../src/core/rtc/ice.js';

describe('coturn REST API credentials', () => {
  it('username is expiry:user and the password base64(HMAC-SHA1(secret, username))', () => {
    const c = restCredentials('s3cret', { user: 'bob', ttl: 600, now: 1_700_000_000_000 });
    expect(c.username).toBe('1700000600:bob');
    expect(c.expiry).toBe(1700000600);
    expect(c.password).toBe(createHmac('sha1', 's3cret').update('1700000600:bob').digest('base64'));
    expect(restPassword('s3cret', c.username)).toBe(c.password);
    expect(restCredentials('s3cret', { ttl: 1, now: 1_700_000_000_000 }).username).toBe('1700000001');
    expect(restCredentials('s3cret', { user: 'bob', ttl: 1, now: 1_700_000_000_000, separator: '-' }).username).toBe('1700000001-bob');
  });

  it.each([
    [1700000600, undefined, '1700000600'],
    [1700000600, '', '1700000600'],
    [1700000600, 'alice', '1700000600:alice'],
  ] as const)('restUsername(%d, %j) is %s', (expiry, user, want) => {
    expect(restUsername(expiry, user)).toBe(want);
  });

  it('reads the expiry back from REST usernames only', () => {
    expect(restExpiryOf('1700000600:bob')).toBe(1700000600);
    expect(restExpiryOf('1700000600')).toBe(1700000600);
    expect(restExpiryOf('alice')).toBeUndefined();
    expect(restExpiryOf('12:bob')).toBeUndefined();
  });
});

describe('iceServers JSON', () => {
  const doc = {
    iceServers: [
      { urls: 'stun:stun.example.org' },
      { urls: ['turn:turn.example.org?transport=udp', 'turns:turn.example.org:443?transport=tcp', 'stun:x'], username: 'u', credential: 'c' },
      { url: ' turn:legacy.example.org ' },
    ],
  };

  it('accepts {iceServers} (an RTCConfiguration too), string or array urls, the legacy url, and keeps every entry', () => {
    const want: IceServer[] = [
      { urls: ['stun:stun.example.org'] },
      { urls: ['turn:turn.example.org?transport=udp', 'turns:turn.example.org:443?transport=tcp', 'stun:x'], username: 'u', credential: 'c' },
      { urls: ['turn:legacy.example.org'] },
    ];
    expect(parseIceServers(JSON.stringify(doc))).toEqual(want);
    expect(parseIceServers(JSON.stringify({ ...doc, iceTransportPolicy: 'relay', bundlePolicy: 'max-bundle' }))).toEqual(want);
    expect(parseIceServers(JSON.stringify(doc.iceServers))).toEqual(want);
    expect(parseIceServers('[{"urls":"turn:a"}]')).toEqual([{ urls: ['turn:a'] }]);
  });

  it('turnServersOf keeps only turn:/turns: URLs and drops entries left without any', () => {
    expect(turnServersOf(parseIceServers(JSON.stringify(doc)))).toEqual([
      { urls: ['turn:turn.example.org?transport=udp', 'turns:turn.example.org:443?transport=tcp'], username: 'u', credential: 'c' },
      { urls: ['turn:legacy.example.org'] },
    ]);
    expect(turnServersOf([{ urls: ['stun:a', 'STUNS:b'] }])).toEqual([]);
    expect(turnServersOf([{ urls: ['TURN:a'] }])).toEqual([{ urls: ['TURN:a'] }]);
  });

  it.each([
    ['not json', /not valid JSON/],
    ['{"x":1}', /must be an array/],
    ['null', /must be an array/],
    ['[1]', /iceServers\[0\] is not an object/],
    ['[[]]', /iceServers\[0\] is not an object/],
    ['[{"urls":5}]', /iceServers\[0\]\.urls must be a string or an array/],
    ['[{"urls":["turn:a",5]}]', /iceServers\[0\]\.urls must be a string or an array/],
    ['[{"urls":"turn:a"},{"urls":"turn:b","username":3}]', /iceServers\[1\]\.username must be a string/],
    ['[{"urls":"turn:a","credential":{}}]', /iceServers\[0\]\.credential must be a string/],
  ])('rejects %s with a USAGE error', (bad, msg) => {
    expect(rtcprobeErrorFrom(() => parseIceServers(bad), 'USAGE').message).toMatch(msg);
  });

  it('a UTF-8 BOM before the document is accepted', () => {
    const text = `\uFEFF${JSON.stringify([{ urls: 'turn:192.0.2.1', username: 'u', credential: 'c' }])}`;
    expect(parseIceServers(text)).toEqual([{ urls: ['turn:192.0.2.1'], username: 'u', credential: 'c' }]);
    // And from bytes, as the command reads the file.
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"iceServers":[{"urls":"turn:192.0.2.2"}]}')]);
    expect(parseIceServers(bytes.toString('utf8'))[0]!.urls).toEqual(['turn:192.0.2.2']);
  });

  it('the parsed list is what the headless peers take', () => {
    const parsed = parseIceServers(JSON.stringify({ iceServers: [{ urls: ['turn:203.0.113.5:3478?transport=udp', 'stun:203.0.113.5'], username: 'u', credential: 'p' }] }));
    expect(toRtcIceServers(parsed)).toEqual(parsed);
  });
});
