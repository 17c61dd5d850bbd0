import { describe, expect, it } from 'vitest';
import { candidateType, isRelayCandidate, relayOnlySdp, sdpCandidateTypes, toRtcIceServers } from '../../../src/core/rtc/ice.js';
import { splitFrame, videoFrameBytes, audioTimestampStep, videoTimestampStep, PCMU_PROFILE, MAX_RTP_PAYLOAD } from '../../../src/core/rtc/media.js';
import { weriftConfig } from '../../../src/core/rtc/peer.js';
import { parseIceServers } from '../../../src/core/ice/servers.js';
import { RtcprobeError } from '../../../src/core/errors.js';

const HOST = 'a=candidate:1 1 udp 2130706431 192.0.2.10 50000 typ host generation 0';
const SRFLX = 'a=candidate:2 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 192.0.2.10 rport 50000 generation 0';
const RELAY = 'a=candidate:3 1 udp 16777215 203.0.113.5 49152 typ relay raddr 198.51.100.7 rport 40000 generation 0';
const RELAY_TCP = 'a=candidate:4 1 tcp 16777214 203.0.113.5 49153 typ relay raddr 0.0.0.0 rport 0 tcptype passive';
const PRFLX = 'a=candidate:5 1 udp 1845501695 198.51.100.9 40001 typ prflx raddr 192.0.2.10 rport 50000';

const sdp = (eol: string) =>
  ['v=0', 'o=- 1 0 IN IP4 0.0.0.0', 's=-', 't=0 0', 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'c=IN IP4 0.0.0.0', HOST, SRFLX, RELAY, RELAY_TCP, PRFLX, 'a=end-of-candidates', 'a=ice-ufrag:abcd', 'a=mid:0', ''].join(eol);

describe('relay-only candidate filtering', () => {
  it.each([
    [HOST, 'host'],
    [SRFLX, 'srflx'],
    [RELAY, 'relay'],
    [RELAY_TCP, 'relay'],
    [PRFLX, 'prflx'],
    ['candidate:3 1 udp 16777215 203.0.113.5 49152 typ relay', 'relay'], // trickled form, type last
    ['a=ice-ufrag:relay', undefined],
    ['candidate:9 1 udp 1 203.0.113.5 1 typ relayx', undefined],
  ])('type of %s', (line, want) => {
    expect(candidateType(line)).toBe(want);
  });

  it.each([['\r\n'], ['\n']])('keeps only relay candidates and everything else (EOL %j)', (eol) => {
    const out = relayOnlySdp(sdp(eol));
    const lines = out.split(eol);
    expect(lines.filter((l) => l.startsWith('a=candidate:'))).toEqual([RELAY, RELAY_TCP]);
    expect(lines).toContain('a=end-of-candidates');
    expect(lines).toContain('a=ice-ufrag:abcd');
    expect(lines).toContain('m=application 9 UDP/DTLS/SCTP webrtc-datachannel');
    expect(out.endsWith(eol)).toBe(true);
    expect(sdpCandidateTypes(out)).toEqual(['relay']);
    expect(sdpCandidateTypes(sdp(eol))).toEqual(['host', 'srflx', 'relay', 'prflx']);
  });

  it('an SDP without relay candidates keeps none', () => {
    expect(sdpCandidateTypes(relayOnlySdp([HOST, SRFLX, 'a=mid:0'].join('\r\n')))).toEqual([]);
    expect(isRelayCandidate(HOST)).toBe(false);
    expect(isRelayCandidate(RELAY)).toBe(true);
  });
});

describe('ICE server lists', () => {
  it('converts the project’s parsed iceServers', () => {
    const parsed = parseIceServers(JSON.stringify({ iceServers: [{ urls: ['turn:203.0.113.5:3478?transport=udp', 'stun:203.0.113.5'], username: 'u', credential: 'p' }] }));
    expect(toRtcIceServers(parsed)).toEqual([{ urls: ['turn:203.0.113.5:3478?transport=udp', 'stun:203.0.113.5'], username: 'u', credential: 'p' }]);
  });

  it.each([
    [[{ urls: 'stun:198.51.100.1:3478' }], [{ urls: ['stun:198.51.100.1:3478'] }]],
    [[{ urls: [' turns:relay.example:5349 '], username: 'a', credential: 'b' }], [{ urls: ['turns:relay.example:5349'], username: 'a', credential: 'b' }]],
    [[], []],
  ])('normalises %j', (input, want) => {
    expect(toRtcIceServers(input)).toEqual(want);
  });

  it.each([
    [[{ urls: 'http://198.51.100.1' }], /not a stun/],
    [[{ urls: 'turn:198.51.100.1' }], /username and a credential/],
    [[{ urls: [] as string[] }], /no URL/],
  ])('rejects %j', (input, msg) => {
    let err: unknown;
    try {
      toRtcIceServers(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RtcprobeError);
    expect((err as RtcprobeError).code).toBe('USAGE');
    expect((err as Error).message).toMatch(msg);
  });

  it('werift configuration: explicit servers, loopback and relay-only', () => {
    expect(weriftConfig({ iceServers: [] })).toMatchObject({ iceServers: [], iceTransportPolicy: 'all', iceUseIpv4: true, iceUseIpv6: true, bundlePolicy: 'max-bundle' });
    expect(weriftConfig({ iceServers: [] }).iceAdditionalHostAddresses).toBeUndefined();
    expect(weriftConfig({ iceServers: [], loopback: true, additionalHostAddresses: ['127.0.0.1', '192.0.2.1'] })).toMatchObject({
      iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1', '192.0.2.1'],
    });
    const relay = weriftConfig({ iceServers: [{ urls: ['turn:127.0.0.1:3478'], username: 'u', credential: 'p' }], relayOnly: true });
    expect(relay).toMatchObject({ iceTransportPolicy: 'relay', iceServers: [{ urls: ['turn:127.0.0.1:3478'], username: 'u', credential: 'p' }] });
  });
});

describe('synthetic media sizes', () => {
  it.each([
    [6250, [1042, 1042, 1042, 1042, 1041, 1041]],
    [1200, [1200]],
    [1201, [601, 600]],
    [10, [10]],
    [2400, [1200, 1200]],
  ])('splits a %i-byte frame', (bytes, want) => {
    const parts = splitFrame(bytes);
    expect(parts).toEqual(want);
    expect(parts.reduce((a, b) => a + b, 0)).toBe(bytes);
    expect(Math.max(...parts)).toBeLessThanOrEqual(MAX_RTP_PAYLOAD);
  });

  it('pads a frame smaller than the probe header', () => {
    expect(splitFrame(10, 1200, 48)).toEqual([48]);
  });

  it.each([
    [{ fps: 30, kbps: 1500, clockRate: 90000 }, 6250, 3000],
    [{ fps: 25, kbps: 500, clockRate: 90000 }, 2500, 3600],
    [{ fps: 60, kbps: 8, clockRate: 90000 }, 17, 1500],
  ])('video %j: frame bytes and timestamp step', (p, bytes, step) => {
    expect(videoFrameBytes(p)).toBe(bytes);
    expect(videoTimestampStep(p)).toBe(step);
  });

  it('audio timestamp steps', () => {
    expect(audioTimestampStep(PCMU_PROFILE)).toBe(160);
    expect(audioTimestampStep({ ptimeMs: 20, payloadBytes: 120, clockRate: 48000 })).toBe(960);
  });
});
