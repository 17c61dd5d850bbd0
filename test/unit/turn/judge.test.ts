import { describe, expect, it } from 'vitest';
import { isCoturnSoftware, pickWording, relayUnreachable } from '../../../src/core/turn/hints.js';
import { countRows, countsText, headlineOf, judgeRun, type Headline } from '../../../src/core/turn/judge.js';
import { turnErrorName } from '../../../src/core/turn/protocol.js';
import { Rows, warningLabel, type CheckRow, type CheckStatus, type ReportPath } from '../../../src/core/turn/report.js';
import { ErrorCodes } from '../../../src/core/stun/constants.js';

/** Rows as the stages make them (labels included), from [id, status] pairs. */
function rows(...spec: [string, CheckStatus, string?][]): CheckRow[] {
  const r = new Rows([]);
  for (const [id, status, label] of spec) r.add(id, status, 'detail', '', 'turn:127.0.0.1', label);
  return r.rows;
}

function path(mode: 'channel' | 'indication', received: number, server = 'turn:a'): ReportPath {
  return {
    mode, sent: 10, received, loss: (10 - received) / 10, duplicates: 0, reordered: 0, sendRate: 10,
    ...(received > 0 ? { rtt: { min: 1, median: 2, p95: 3, p99: 4, max: 5, mean: 2, jitter: 0.5, samples: received }, jitter: 0.5 } : {}),
    throughput: { messagesPerSecond: received, bitsPerSecond: received * 800, relayedMessagesPerSecond: received * 2 },
    durationMs: 1000, server, transport: 'udp', relayA: `${server}-A-${mode}`, relayB: `${server}-B`,
  } as ReportPath;
}

const NOT_VERIFIED = [{ server: 'turn:127.0.0.1', reason: 'no credentials were given, so no allocation or relay was tested' }];

describe('judgeRun: the verdict of a run (pure)', () => {
  const cases: { name: string; rows: CheckRow[]; unverified: typeof NOT_VERIFIED; verdict: string; ok: boolean; exit: number }[] = [
    { name: 'every row passed, every server allocated', rows: rows(['udp.dns', 'pass'], ['udp.allocate', 'pass']), unverified: [], verdict: 'works', ok: true, exit: 0 },
    { name: 'skips and warnings alone still work', rows: rows(['udp.dns', 'pass'], ['udp.quota', 'skip'], ['udp.channel-rebind', 'warn']), unverified: [], verdict: 'works', ok: true, exit: 0 },
    { name: 'one failed row fails the run', rows: rows(['udp.dns', 'pass'], ['udp.refresh', 'fail']), unverified: [], verdict: 'failed', ok: false, exit: 1 },
    { name: 'a failure outranks a server not verified', rows: rows(['udp.auth-challenge', 'fail']), unverified: NOT_VERIFIED, verdict: 'failed', ok: false, exit: 1 },
    { name: 'reached but not verified, nothing failed', rows: rows(['udp.reach', 'pass'], ['udp.auth', 'skip']), unverified: NOT_VERIFIED, verdict: 'not-verified', ok: false, exit: 1 },
    { name: 'no rows and no server left unverified', rows: [], unverified: [], verdict: 'works', ok: true, exit: 0 },
    { name: 'relay to peer not verified because of this host\'s NAT is a warning, not a failure', rows: rows(['udp.relay-channel', 'pass'], ['udp.peer-to-relay', 'pass'], ['udp.relay-to-peer', 'warn']), unverified: [], verdict: 'works', ok: true, exit: 0 },
    { name: 'an aborted run', rows: rows(['udp.dns', 'pass'], ['udp.aborted', 'fail']), unverified: [], verdict: 'failed', ok: false, exit: 1 },
  ];
  it.each(cases)('$name: $verdict', (c) => {
    const j = judgeRun(c.rows, c.unverified, []);
    expect(j.verdict).toBe(c.verdict);
    expect(j.ok).toBe(c.ok);
    // The command exits 0 exactly when the judgement is ok, 1 otherwise.
    expect(j.ok ? 0 : 1).toBe(c.exit);
  });

  const warningCases: { name: string; rows: CheckRow[]; warnings: string[] }[] = [
    { name: 'none', rows: rows(['udp.dns', 'pass'], ['udp.relay-path', 'fail']), warnings: [] },
    { name: 'the label of the check name, without prefix or number', rows: rows(['tcp2.stale-allocation', 'warn']), warnings: ['stale allocation (437)'] },
    { name: 'indications and channels share one label, listed once', rows: rows(['udp.relay-indication', 'warn'], ['udp.relay-channel', 'warn']), warnings: ['loss on the relayed path'] },
    { name: 'in order of first appearance', rows: rows(['udp.deallocate', 'warn'], ['tls.tls', 'warn'], ['udp2.deallocate', 'warn']), warnings: ['deallocation not confirmed', 'TLS certificate not trusted'] },
    { name: 'a label the row names itself', rows: rows(['udp.auth', 'warn', 'response without integrity']), warnings: ['response without integrity'] },
    { name: 'every security row shares one label', rows: rows(['security.127.0.0.1', 'warn'], ['security.::1', 'warn']), warnings: ['a forbidden peer got no answer'] },
    { name: 'an unknown check keeps its id', rows: rows(['udp.something-new', 'warn']), warnings: ['udp.something-new'] },
  ];
  it.each(warningCases)('warnings: $name', (c) => {
    expect(judgeRun(c.rows, [], []).warnings).toEqual(c.warnings);
  });

  it('the REST expiry warning of a second credential gets the same label as the first', () => {
    expect(judgeRun(rows(['credentials.expiry', 'warn'], ['credentials.expiry2', 'warn']), [], []).warnings).toEqual(['REST credentials expire soon']);
  });

  const relayCases: { name: string; paths: ReportPath[]; pick: number | null }[] = [
    { name: 'no path measured', paths: [], pick: null },
    { name: 'channels that carried data win over indications', paths: [path('indication', 10), path('channel', 9)], pick: 1 },
    { name: 'a silent channel path loses to indications that carried data', paths: [path('indication', 4), path('channel', 0)], pick: 0 },
    { name: 'the first server whose channels worked', paths: [path('indication', 0, 'turn:a'), path('channel', 0, 'turn:a'), path('indication', 5, 'turn:b'), path('channel', 5, 'turn:b')], pick: 3 },
    { name: 'nothing came back anywhere: the first path, without RTT', paths: [path('indication', 0), path('channel', 0)], pick: 0 },
  ];
  it.each(relayCases)('relay: $name', (c) => {
    const relay = judgeRun([], [], c.paths).relay;
    if (c.pick === null) {
      expect(relay).toBeNull();
      return;
    }
    const p = c.paths[c.pick]!;
    expect(relay).toMatchObject({ server: p.server, transport: 'udp', address: p.relayA, mode: p.mode, loss: p.loss, throughput: p.throughput });
    if (p.received > 0) expect(relay).toMatchObject({ rtt: { min: 1, median: 2, p95: 3, p99: 4, max: 5 }, jitter: 0.5 });
    // The summary keeps the five RTT figures only.
    if (relay?.rtt) expect(Object.keys(relay.rtt).sort()).toEqual(['max', 'median', 'min', 'p95', 'p99']);
    if (p.received === 0) expect(relay).not.toHaveProperty('rtt');
  });

  it('is pure: the same rows give the same judgement and are not changed', () => {
    const r = rows(['udp.dns', 'pass'], ['udp.channel-rebind', 'warn']);
    const copy = structuredClone(r);
    expect(judgeRun(r, [], [])).toEqual(judgeRun(r, [], []));
    expect(r).toEqual(copy);
  });
});

describe('report rows', () => {
  it('only warnings carry a label; secrets are redacted from details and hints', () => {
    const r = new Rows(['s3cret-pw']);
    r.add('udp.auth', 'pass', 'ok with s3cret-pw', 'hint s3cret-pw');
    r.add('udp.allocate', 'warn', 'w');
    expect(r.rows[0]).toEqual({ id: 'udp.auth', status: 'pass', detail: expect.not.stringContaining('s3cret-pw'), hint: expect.not.stringContaining('s3cret-pw') });
    expect(r.rows[1]!.label).toBe(warningLabel('udp.allocate'));
    expect(r.rows[1]!.label).toBe('relayed address unusable by remote peers');
  });

  it('a relay-to-peer warning (this host\'s NAT) has its own label, numbered rows too', () => {
    expect(warningLabel('udp.relay-to-peer')).toBe("relay to peer not verified (this host's NAT)");
    expect(warningLabel('udp2.relay-to-peer')).toBe("relay to peer not verified (this host's NAT)");
  });
});

describe('hint wording by SOFTWARE', () => {
  it.each([
    [['Coturn-4.6.1 \'Gorst\''], true],
    [[undefined, 'coturn-4.5.2'], true],
    [['pion/turn'], false],
    [[undefined], false],
    [[], false],
  ] as [(string | undefined)[], boolean][])('%j -> coturn %s', (software, coturn) => {
    expect(isCoturnSoftware(software)).toBe(coturn);
    const w = relayUnreachable('10.0.0.5');
    expect(pickWording(coturn, w)).toBe(coturn ? w.coturn : w.neutral);
    expect(pickWording(coturn, w).includes('external-ip')).toBe(coturn);
  });
});

describe('turnErrorName: one table, the codec\'s ErrorCodes', () => {
  it.each([
    [400, 'Bad Request'],
    [401, 'Unauthorized'],
    [403, 'Forbidden'],
    [420, 'Unknown Attribute'],
    [437, 'Allocation Mismatch'],
    [438, 'Stale Nonce'],
    [440, 'Address Family not Supported'],
    [441, 'Wrong Credentials'],
    [442, 'Unsupported Transport Protocol'],
    [443, 'Peer Address Family Mismatch'],
    [446, 'Connection Already Exists'],
    [447, 'Connection Timeout or Failure'],
    [486, 'Allocation Quota Reached'],
    [500, 'Server Error'],
    [508, 'Insufficient Capacity'],
    [300, 'Try Alternate'],
    [487, 'Role Conflict'],
    [0, 'error'],
    [499, 'error'],
  ])('%i is "%s"', (code, name) => {
    expect(turnErrorName(code)).toBe(name);
  });

  it('names every code of ErrorCodes', () => {
    for (const code of Object.values(ErrorCodes)) expect(turnErrorName(code)).not.toBe('error');
  });
});

describe('the headline: verdict first, in words (pure)', () => {
  const failRow = (detail: string, hint: string): CheckRow => ({ id: 'udp.auth', status: 'fail', detail, hint, server: 'turn:a' });
  const cases: { name: string; rows: CheckRow[]; unverified: typeof NOT_VERIFIED; want: Headline }[] = [
    { name: 'all passed', rows: rows(['udp.dns', 'pass'], ['udp.allocate', 'pass']), unverified: [], want: { status: 'ok', text: 'TURN server works' } },
    { name: 'skips only', rows: rows(['udp.quota', 'skip']), unverified: [], want: { status: 'ok', text: 'TURN server works' } },
    { name: 'one warning', rows: rows(['udp.dns', 'pass'], ['udp.quota', 'warn']), unverified: [], want: { status: 'warn', text: 'TURN server works, with 1 warning: no allocation quota' } },
    {
      name: 'three warning rows, two labels',
      rows: rows(['udp.relay-indication', 'warn'], ['udp.relay-channel', 'warn'], ['tls.tls', 'warn']),
      unverified: [],
      want: { status: 'warn', text: 'TURN server works, with 3 warnings: loss on the relayed path, TLS certificate not trusted' },
    },
    { name: 'a warning row naming its own label', rows: rows(['udp.odd', 'warn', 'something odd']), unverified: [], want: { status: 'warn', text: 'TURN server works, with 1 warning: something odd' } },
    {
      name: 'one server not verified: its reason',
      rows: rows(['udp.reach', 'pass'], ['udp.auth', 'skip'], ['udp.quota', 'warn']),
      unverified: NOT_VERIFIED,
      want: { status: 'warn', text: 'TURN server reached, but not verified: no credentials were given, so no allocation or relay was tested' },
    },
    {
      name: 'two servers not verified: named',
      rows: rows(['udp.reach', 'pass']),
      unverified: [{ server: 'turn:a', reason: 'x' }, { server: 'turn:b', reason: 'y' }],
      want: { status: 'warn', text: 'TURN server reached, but not verified: 2 servers not verified (turn:a, turn:b)' },
    },
    {
      name: 'the first failure, with its hint, outranks the rest',
      rows: [...rows(['udp.dns', 'pass'], ['udp.quota', 'warn']), failRow('the server rejected these credentials', 'check the password'), failRow('second', 'h2')],
      unverified: NOT_VERIFIED,
      want: { status: 'fail', text: 'TURN check failed: the server rejected these credentials', hint: 'check the password' },
    },
    { name: 'a failure without a hint', rows: [failRow('boom', '')], unverified: [], want: { status: 'fail', text: 'TURN check failed: boom' } },
  ];
  it.each(cases)('$name', (c) => {
    const j = judgeRun(c.rows, c.unverified, []);
    expect(j.headline).toEqual(c.want);
    expect(headlineOf(c.rows, j.verdict, c.unverified, j.warnings)).toEqual(c.want);
  });

  it('counts rows by status, in words', () => {
    const n = countRows(rows(['a.x', 'pass'], ['a.y', 'pass'], ['a.z', 'warn'], ['a.w', 'skip']));
    expect(n).toEqual({ pass: 2, warn: 1, fail: 0, skip: 1 });
    expect(countsText(n)).toBe('2 passed, 1 warning(s), 0 failed, 1 skipped');
  });
});
