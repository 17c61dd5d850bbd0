import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TurnJson } from '../../src/commands/turn.js';
import { runCli, runJson, why } from '../helpers/cli.js';
import { ensurePionTurn, startPionTurn, type PionTurn } from '../helpers/pion-turn.js';
import { IN_CI } from '../helpers/system.js';
import { toRtcprobeError } from '../../src/core/errors.js';
import { openTurnTransport, TurnClient } from '../../src/core/turn/client.js';

/**
 * rtcprobe turn against pion/turn v2 (test/pion-turn), a TURN server that is
 * not coturn and differs from it where RFC 8656 leaves room (or where it
 * strays): 400 for bad credentials, IPv4 relays when IPv6 is asked for,
 * refusals without ERROR-CODE, a 1600-byte receive buffer, no SOFTWARE.
 */

const USER = 'pionuser';
const PASSWORD = 'pion-password-77';

type Row = TurnJson['checks'][number];

function row(j: TurnJson, id: string): Row {
  const r = j.checks.find((c) => c.id === id);
  if (!r) throw new Error(`no check "${id}" in ${j.checks.map((c) => c.id).join(', ')}`);
  return r;
}

/** coturn option names that must not appear in hints about another server. */
const COTURN_WORDS = /coturn|turnserver|denied-peer-ip|allow-loopback-peers|external-ip|relay-ip|min-port|max-bps|user-quota|lt-cred-mech|static-auth-secret|use-auth-secret|no-tcp-relay|no-multicast-peers|tls-listening-port/;

function describePion(name: string, fn: () => void): void {
  if (ensurePionTurn()) {
    describe(name, fn);
    return;
  }
  const reason = 'needs the pion/turn test server (test/pion-turn/build.sh: golang-go and golang-github-pion-turn.v2-dev)';
  if (IN_CI) {
    describe(name, () => {
      throw new Error(`${name}: ${reason}`);
    });
  } else {
    describe.skip(`${name} [skipped: ${reason}]`, fn);
  }
}

describePion('rtcprobe turn against pion/turn', () => {
  let pion: PionTurn;
  let strict: PionTurn; // refuses permissions toward loopback peers
  beforeAll(async () => {
    pion = await startPionTurn({ users: [{ user: USER, password: PASSWORD }] });
    strict = await startPionTurn({ users: [{ user: USER, password: PASSWORD }], denyPeers: ['127.0.0.0/8'] });
  });
  afterAll(async () => {
    await pion?.stop();
    await strict?.stop();
  });

  it('UDP and TCP: the whole path works, and the hints name no coturn option', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${pion.port}`, `turn:127.0.0.1:${pion.tcpPort}?transport=tcp`, '--user', USER, '--password', PASSWORD, '--count', '10'], { timeout: 90000 });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.verdict).toBe('works');
    for (const t of ['udp', 'tcp']) {
      for (const id of ['auth-challenge', 'auth', 'allocate', 'permission', 'relay-indication', 'channel-bind', 'relay-channel', 'channel-rebind', 'refresh', 'deallocate']) {
        expect(row(r.json, `${t}.${id}`).status, `${t}.${id}: ${row(r.json, `${t}.${id}`).detail}`).toBe('pass');
      }
    }
    expect(row(r.json, 'udp.auth').detail).toMatch(/authenticated as pi\*\*\*/);
    // The loopback relay address passes with its note; nothing names a coturn option.
    for (const c of r.json.checks) expect(`${c.id}: ${c.detail} ${c.hint}`).not.toMatch(COTURN_WORDS);
  });

  it('a wrong password gets 400 from pion: the credentials are not accepted, and the hint says a wrong password is likely', async () => {
    for (const [user, password] of [[USER, 'not-the-password'], ['nobody-here', PASSWORD]] as const) {
      const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${pion.port}`, '--user', user, '--password', password], { timeout: 60000 });
      expect(r.code, why(r)).toBe(1);
      const auth = row(r.json, 'udp.auth');
      expect(auth.status, auth.detail).toBe('fail');
      expect(auth.detail).toMatch(/refused the first signed request with 400.*credentials rejected, or the request malformed/);
      expect(auth.hint).toMatch(/wrong password or an unknown user is the likely cause/);
      expect(r.json.checks.some((c) => c.status === 'pass' && /credentials accepted/.test(c.detail))).toBe(false);
      expect(r.stdout).not.toContain(password);
    }
  });

  it('a wrong --secret reaches the clock-skew probe and is told apart from skew', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${pion.port}`, '--secret', 'a-secret-pion-does-not-know'], { timeout: 60000 });
    expect(r.code, why(r)).toBe(1);
    const auth = row(r.json, 'udp.auth');
    expect(auth.status).toBe('fail');
    expect(auth.hint).toMatch(/--secret is not the server's shared secret \(even a username valid for a week is refused\)/);
    expect(auth.hint).not.toMatch(COTURN_WORDS);
  });

  it('--security: pion answers an IPv6 relay request with IPv4; the mismatch is reported and no IPv6 peer is judged through it', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${pion.port}`, '--user', USER, '--password', PASSWORD, '--security', '--count', '3'], { timeout: 90000 });
    expect(r.code, why(r)).toBe(1);
    const fam = row(r.json, 'udp.relay-family');
    expect(fam.status).toBe('warn');
    expect(fam.detail).toMatch(/REQUESTED-ADDRESS-FAMILY IPv6 was granted an IPv4 relayed address/);
    expect(fam.hint).toContain('440');
    for (const v6 of ['::1', '::', 'fd00::1', 'fe80::1', 'ff02::1', '::ffff:127.0.0.1']) {
      const p = row(r.json, `security.${v6}`);
      expect(p.status, `${v6}: ${p.detail}`).toBe('pass');
      expect(p.detail).toMatch(/unreachable: the server gave no IPv6 relayed address \(IPv6 was asked for, the server granted IPv4/);
    }
    // pion's default permission handler grants loopback and private IPv4 peers: failures, with neutral hints.
    const lo = row(r.json, 'security.127.0.0.1');
    expect(lo.status).toBe('fail');
    expect(lo.hint).toMatch(/the server must refuse peers in this range/);
    for (const c of r.json.checks) expect(`${c.id}: ${c.hint}`).not.toMatch(COTURN_WORDS);
    expect(r.json.warnings).toContain('relay family ignored');
  });

  it('a CreatePermission refused with an error response without ERROR-CODE: a skip with the reason, every data-path row present', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${strict.port}`, '--user', USER, '--password', PASSWORD, '--security'], { timeout: 90000 });
    const perm = row(r.json, 'udp.permission');
    expect(perm.status).toBe('skip');
    expect(perm.detail).toMatch(/refuses loopback peers \(an error without ERROR-CODE\)/);
    for (const id of ['relay-indication', 'channel-bind', 'relay-channel', 'channel-rebind']) {
      expect(row(r.json, `udp.${id}`).status).toBe('skip');
      expect(row(r.json, `udp.${id}`).detail).toMatch(/no permission/);
    }
    expect(row(r.json, 'security.127.0.0.1').status).toBe('pass');
    expect(row(r.json, 'security.127.0.0.1').detail).toMatch(/refused with an error without ERROR-CODE/);
    expect(row(r.json, 'udp.deallocate').status).toBe('pass');
    const human = await runCli(['turn', `turn:127.0.0.1:${strict.port}`, '--user', USER, '--password', PASSWORD, '--no-color'], { timeout: 60000 });
    expect(human.stdout).toMatch(/- udp\.relay-channel\s+not run: no permission/);
    expect(human.code).toBe(0);
  });

  it('a Refresh without an allocation gets no answer from pion: the client gives up within its timeout with TIMEOUT', async () => {
    const ch = await openTurnTransport({ remote: { address: '127.0.0.1', port: pion.port }, family: 4, transport: 'udp', timeout: 600 });
    const c = new TurnClient(ch, { credentials: { username: USER, password: PASSWORD }, timeout: 600 });
    try {
      const t0 = performance.now();
      const err = await c.refresh(600).then(() => undefined, (e: unknown) => e);
      expect(toRtcprobeError(err).code).toBe('TIMEOUT');
      expect(performance.now() - t0).toBeLessThan(3000);
      // The same client still works afterwards: silence is not fatal.
      const a = await c.allocate();
      expect(a.relayed.address).toBe('127.0.0.1');
      await c.deallocate();
    } finally {
      c.close();
    }
  });

  it('--size 2000: pion truncates what does not fit its buffer; small messages pass, so a size limit is reported, not a firewall', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:127.0.0.1:${pion.port}`, '--user', USER, '--password', PASSWORD, '--size', '2000', '--count', '5'], { timeout: 90000 });
    expect(r.code, why(r)).toBe(1);
    const size = row(r.json, 'udp.relay-size');
    expect(size.status).toBe('fail');
    expect(size.detail).toMatch(/2000-byte messages are lost .* while 100-byte messages pass \(\d+\/10\): a size limit, not a blocked port/);
    expect(size.hint).toMatch(/MTU/);
    expect(r.json.checks.some((c) => c.id === 'udp.relay-path')).toBe(false);
    for (const c of r.json.checks) expect(`${c.id}: ${c.hint}`).not.toMatch(/firewall/);
  });
});
