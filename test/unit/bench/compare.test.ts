import { describe, expect, it } from 'vitest';
import { buildComparison, comparisonVerdict, expectedShape, renderComparisonCsv, renderComparisonHtml, renderComparisonText } from '../../../src/core/bench/compare.js';
import { parseProcStatCpuMs, windowCpu } from '../../../src/core/bench/proc-cpu.js';
import type { Summary } from '../../../src/core/bench/summary.js';

const sum = (p50: number, p99: number): Summary => ({ count: 100, min: p50 / 2, p50, p95: p99, p99, max: p99, mean: p50, exact: true });

const figures = [
  { topology: 'mesh' as const, peers: 4, ok: true, connections: { expected: 6, up: 6 }, uploadPerPeerBps: 30_000, downloadPerPeerBps: 30_000, streamBps: 10_000, delayMs: sum(0.3, 2) },
  { topology: 'sfu' as const, peers: 4, ok: true, connections: { expected: 4, up: 4 }, uploadPerPeerBps: 11_000, downloadPerPeerBps: 29_000, streamBps: 10_000, serverCpuPct: 9.5, delayMs: sum(0.6, 6) },
  { topology: 'mcu' as const, peers: 4, ok: true, connections: { expected: 4, up: 4 }, uploadPerPeerBps: 9_500, downloadPerPeerBps: 9_400, streamBps: 9_100, serverCpuPct: 6, delayMs: sum(50, 60) },
  { topology: 'turn' as const, peers: 4, notRun: 'no TURN server: coturn (turnserver) is not installed here and no --turn was given' },
];

describe('topology comparison', () => {
  it('gives the expected shape per topology', () => {
    expect(expectedShape('mesh', 5)).toEqual({ upload: 4, download: 4 });
    expect(expectedShape('turn', 5)).toEqual({ upload: 4, download: 4 });
    expect(expectedShape('sfu', 5)).toEqual({ upload: 1, download: 4 });
    expect(expectedShape('mcu', 5)).toEqual({ upload: 1, download: 1 });
  });

  it('turns bytes into streams, keeps "—" for a mesh, labels the MCU delay as mouth-to-ear', () => {
    const rows = buildComparison(figures);
    expect(rows[0]).toMatchObject({ topology: 'mesh', run: true, upload: { perPeerBps: 30_000, ratio: 3 }, download: { ratio: 3 }, serverCpu: { status: 'none' }, delay: { kind: 'audio one-way', p50Ms: 0.3, p99Ms: 2 } });
    expect(rows[1]).toMatchObject({ upload: { ratio: 1.1 }, download: { ratio: 2.9 }, serverCpu: { status: 'measured', pctOfCore: 9.5 } });
    expect(rows[2]).toMatchObject({ delay: { kind: 'mouth-to-ear', p50Ms: 50 }, expected: { upload: 1, download: 1 } });
    expect(rows[3]).toMatchObject({ topology: 'turn', run: false, notRun: expect.stringMatching(/no TURN server/) });
    expect(rows[3]!.upload).toBeUndefined();
    expect(rows[3]!.delay).toBeUndefined();
  });

  it('reports no figure from silence: no bytes, no stream, no delay, no CPU reading', () => {
    const [r] = buildComparison([{ topology: 'sfu', peers: 3, ok: false, connections: { expected: 3, up: 0 }, uploadPerPeerBps: 0, serverCpuNote: 'gone' }]);
    expect(r!.upload).toBeUndefined();
    expect(r!.download).toBeUndefined();
    expect(r!.delay).toBeUndefined();
    expect(r!.serverCpu).toEqual({ status: 'not measured', reason: 'gone' });
    const [noStream] = buildComparison([{ topology: 'sfu', peers: 3, ok: true, uploadPerPeerBps: 5000 }]);
    expect(noStream!.upload).toEqual({ perPeerBps: 5000 });
  });

  it('verdict: names every topology that did not run or failed', () => {
    const v = comparisonVerdict(buildComparison(figures));
    expect(v.ok).toBe(true);
    expect(v.complete).toBe(false);
    expect(v.verdict).toMatch(/^all, 4 peers: mesh, sfu, mcu measured, every connection up; upload per peer in streams: mesh 3\.00, sfu 1\.10, mcu 1\.04/);
    expect(v.verdict).toMatch(/turn not run: no TURN server/);
    const bad = comparisonVerdict(buildComparison([{ ...figures[0]!, ok: false, verdict: 'mesh, 4 peers: 5 of 6 connections up' }]));
    expect(bad.ok).toBe(false);
    expect(bad.verdict).toMatch(/mesh failed: mesh, 4 peers: 5 of 6 connections up/);
  });

  it('a topology that could not run is a failure named in the verdict, with no figure', () => {
    const rows = buildComparison([figures[0]!, { topology: 'sfu', peers: 4, error: { code: 'CONNECTION', message: 'the sfu server did not start: boom' } }]);
    expect(rows[1]).toMatchObject({ run: false, ok: false, notRun: 'CONNECTION: the sfu server did not start: boom' });
    expect(rows[1]!.upload).toBeUndefined();
    const v = comparisonVerdict(rows);
    expect(v.ok).toBe(false);
    expect(v.verdict).toMatch(/sfu could not run: CONNECTION: the sfu server did not start: boom/);
    expect(v.verdict).not.toMatch(/every connection up/);
    expect(renderComparisonText(rows).join('\n')).toMatch(/sfu +could not run: CONNECTION/);
  });

  it('renders the table, one CSV row per topology and size, and an HTML comparison section without network requests', () => {
    const rows = buildComparison([...figures, ...figures.map((f) => ({ ...f, peers: 2 }))]);
    const text = renderComparisonText(rows).join('\n');
    expect(text).toMatch(/mcu .* 6\.0% core .* mouth-to-ear/);
    expect(text).toMatch(/mesh .*—/);
    expect(text).toMatch(/turn +not run: no TURN server/);
    const csv = renderComparisonCsv(rows).trim().split('\n');
    expect(csv).toHaveLength(1 + 8);
    expect(csv[0]).toMatch(/^peers,topology,run,/);
    expect(csv[2]).toMatch(/^4,sfu,true,,true,4,4,11000,1\.100,29000,2\.900,10000,1,3,9\.50,measured,audio one-way,0\.600,6\.000,100$/);
    const html = renderComparisonHtml({ ok: true, verdict: 'v <b>', rows, details: [{ title: 'mesh', text: ['x'] }] });
    expect(html).toContain('<section id="comparison">');
    expect(html).toContain('N=2 mesh');
    expect(html).toContain('v &lt;b&gt;');
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
  });
});

describe('process CPU from /proc/<pid>/stat', () => {
  it('reads utime + stime after a command name holding spaces and parentheses', () => {
    const line = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 1000 0 0';
    expect(parseProcStatCpuMs(line)).toBe(3000);
    expect(parseProcStatCpuMs('garbage')).toBeUndefined();
  });
  it('gives the share of a core over a window, none without both readings', () => {
    expect(windowCpu('sfu', 1, 1000, 1200, 2000)).toEqual({ role: 'sfu', pid: 1, cpuMs: 200, windowMs: 2000, pctOfCore: 10 });
    expect(windowCpu('sfu', 1, undefined, 1200, 2000)).toBeUndefined();
  });
});

describe('comparison over a sweep', () => {
  it('gives every metric as a function of N, per topology, and draws them', async () => {
    const { sweepSeries } = await import('../../../src/core/bench/compare.js');
    const rows = buildComparison([...figures, ...figures.map((f) => ({ ...f, peers: 2, ...(f.uploadPerPeerBps ? { uploadPerPeerBps: f.uploadPerPeerBps / 3 } : {}) }))]);
    const s = sweepSeries(rows);
    expect(s['upload per peer (streams)']!.mesh).toEqual([[4, 3], [2, 1]]);
    expect(s['server CPU (% of a core)']!.mesh).toBeUndefined();
    expect(s['delay p50 (ms)']!.mcu).toEqual([[4, 50], [2, 50]]);
    expect(Object.keys(s['upload per peer (streams)']!)).not.toContain('turn');
    expect(sweepSeries(buildComparison(figures))).toEqual({});
    expect(renderComparisonHtml({ ok: true, verdict: 'v', rows, details: [] })).toContain('<div id="vsn">');
  });
});
