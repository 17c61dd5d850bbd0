/**
 * `bench --topology all`: the comparison of mesh, SFU, MCU and TURN runs on
 * the same workload. Client upload and download per peer (bytes/s and as a
 * ratio to one stream of the workload), the server's CPU over the window,
 * the one-way delay of the audio (mouth-to-ear for the MCU) and whether
 * every connection came up. Pure: the command hands in what each run
 * measured; nothing here invents a figure for a run that did not happen.
 */
import type { Summary } from './summary.js';

export const COMPARED = ['mesh', 'sfu', 'mcu', 'turn'] as const;
export type ComparedTopology = (typeof COMPARED)[number];

/** What one run measured, as the comparison needs it. */
export interface TopologyFigures {
  topology: ComparedTopology;
  peers: number;
  /** The run did not happen: why (e.g. no TURN server). Every other field is then ignored. */
  notRun?: string;
  /** The run could not be carried out (its server did not start, ...): a failure, not a figure. */
  error?: { code: string; message: string };
  ok?: boolean;
  verdict?: string;
  connections?: { expected: number; up: number };
  uploadPerPeerBps?: number;
  downloadPerPeerBps?: number;
  /** One stream of the workload on the wire, bytes/s: the ratios' unit (undefined: no ratio). */
  streamBps?: number;
  /** The server process's CPU over the window; undefined: no figure (see serverCpuNote). */
  serverCpuPct?: number;
  serverCpuNote?: string;
  delayMs?: Summary;
}

export type DelayKind = 'audio one-way' | 'mouth-to-ear';

export interface ComparisonRow {
  topology: ComparedTopology;
  peers: number;
  run: boolean;
  notRun?: string;
  error?: { code: string; message: string };
  ok?: boolean;
  verdict?: string;
  connections?: { expected: number; up: number };
  /** bytes/s per peer; ratio: to one stream of the workload. */
  upload?: { perPeerBps: number; ratio?: number };
  download?: { perPeerBps: number; ratio?: number };
  streamBps?: number;
  /** What the topology should give, in streams: mesh/turn N−1 up and down, SFU 1 up N−1 down, MCU 1 and 1. */
  expected: { upload: number; download: number };
  /** measured: pctOfCore of the server process; none: the topology has no media server; not measured: why. */
  serverCpu: { status: 'measured'; pctOfCore: number } | { status: 'none' } | { status: 'not measured'; reason: string };
  delay?: { kind: DelayKind; p50Ms: number; p99Ms: number; count: number };
}

export function expectedShape(topology: ComparedTopology, peers: number): { upload: number; download: number } {
  switch (topology) {
    case 'mesh':
    case 'turn':
      return { upload: peers - 1, download: peers - 1 };
    case 'sfu':
      return { upload: 1, download: peers - 1 };
    case 'mcu':
      return { upload: 1, download: 1 };
  }
}

export function compareRow(f: TopologyFigures): ComparisonRow {
  const base = { topology: f.topology, peers: f.peers, expected: expectedShape(f.topology, f.peers) };
  if (f.error) return { ...base, run: false, ok: false, notRun: `${f.error.code}: ${f.error.message}`, error: f.error, serverCpu: { status: 'not measured', reason: 'not run' } };
  if (f.notRun !== undefined) return { ...base, run: false, notRun: f.notRun, serverCpu: { status: 'not measured', reason: 'not run' } };
  const ratio = (bps: number) => (f.streamBps && f.streamBps > 0 ? bps / f.streamBps : undefined);
  const wrap = (bps: number | undefined) => {
    if (bps === undefined || !(bps > 0)) return undefined;
    const r = ratio(bps);
    return { perPeerBps: bps, ...(r !== undefined ? { ratio: r } : {}) };
  };
  const upload = wrap(f.uploadPerPeerBps);
  const download = wrap(f.downloadPerPeerBps);
  const serverCpu: ComparisonRow['serverCpu'] =
    f.topology === 'mesh' ? { status: 'none' }
      : f.serverCpuPct !== undefined ? { status: 'measured', pctOfCore: f.serverCpuPct }
        : { status: 'not measured', reason: f.serverCpuNote ?? 'no reading' };
  return {
    ...base,
    run: true,
    ...(f.ok !== undefined ? { ok: f.ok } : {}),
    ...(f.verdict !== undefined ? { verdict: f.verdict } : {}),
    ...(f.connections ? { connections: f.connections } : {}),
    ...(upload ? { upload } : {}),
    ...(download ? { download } : {}),
    ...(f.streamBps !== undefined ? { streamBps: f.streamBps } : {}),
    serverCpu,
    ...(f.delayMs ? { delay: { kind: f.topology === 'mcu' ? 'mouth-to-ear' : 'audio one-way', p50Ms: f.delayMs.p50, p99Ms: f.delayMs.p99, count: f.delayMs.count } } : {}),
  };
}

export function buildComparison(figures: readonly TopologyFigures[]): ComparisonRow[] {
  return figures.map(compareRow);
}

const r2 = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(2));
const ms = (x: number | undefined) => (x === undefined ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const kbit = (bps: number | undefined) => (bps === undefined ? '-' : ((bps * 8) / 1000).toFixed(0));

/** ok: every run that happened connected everything; complete: every topology ran. */
export function comparisonVerdict(rows: readonly ComparisonRow[]): { ok: boolean; complete: boolean; verdict: string } {
  const sizes = [...new Set(rows.map((r) => r.peers))];
  const ran = rows.filter((r) => r.run);
  const bad = ran.filter((r) => !r.ok);
  const broken = rows.filter((r) => r.error);
  const notRun = rows.filter((r) => !r.run && !r.error);
  const ok = ran.length > 0 && bad.length === 0 && broken.length === 0;
  const complete = notRun.length === 0;
  const who = sizes.length > 1 ? `${sizes.join(', ')} peers` : `${sizes[0] ?? 0} peers`;
  const bits = [`all, ${who}: ${[...new Set(ran.map((r) => r.topology))].join(', ') || 'nothing'} measured${ok ? ', every connection up' : ''}`];
  if (sizes.length === 1) {
    const up = ran.filter((r) => r.upload?.ratio !== undefined).map((r) => `${r.topology} ${r2(r.upload!.ratio)}`);
    const down = ran.filter((r) => r.download?.ratio !== undefined).map((r) => `${r.topology} ${r2(r.download!.ratio)}`);
    if (up.length) bits.push(`upload per peer in streams: ${up.join(', ')}`);
    if (down.length) bits.push(`download: ${down.join(', ')}`);
  }
  for (const r of bad) bits.push(`${r.topology}${sizes.length > 1 ? ` (${r.peers} peers)` : ''} failed: ${r.verdict ?? 'not every connection came up'}`);
  for (const r of broken) bits.push(`${r.topology}${sizes.length > 1 ? ` (${r.peers} peers)` : ''} could not run: ${r.notRun}`);
  const reasons = [...new Set(notRun.map((r) => `${r.topology}${sizes.length > 1 ? ` (${r.peers} peers)` : ''} not run: ${r.notRun}`))];
  bits.push(...reasons);
  return { ok, complete, verdict: bits.join('; ') };
}

/** The comparison table (text): one row per topology (and size). */
export function renderComparisonText(rows: readonly ComparisonRow[]): string[] {
  const head = ['peers', 'topology', 'connected', 'up kbit/s', 'up ×stream', 'down kbit/s', 'down ×stream', 'expected up/down', 'server CPU', 'delay p50 ms', 'p99 ms', 'delay measured as'];
  const body = rows.map((r) => {
    if (!r.run) return [String(r.peers), r.topology, `${r.error ? 'could not run' : 'not run'}: ${r.notRun}`];
    return [
      String(r.peers), r.topology,
      r.connections ? `${r.connections.up}/${r.connections.expected}` : '-',
      kbit(r.upload?.perPeerBps), r2(r.upload?.ratio), kbit(r.download?.perPeerBps), r2(r.download?.ratio),
      `${r.expected.upload}/${r.expected.download}`,
      r.serverCpu.status === 'measured' ? `${r.serverCpu.pctOfCore.toFixed(1)}% core` : r.serverCpu.status === 'none' ? '—' : 'not measured',
      ms(r.delay?.p50Ms), ms(r.delay?.p99Ms), r.delay?.kind ?? 'not measured',
    ];
  });
  const full = body.filter((b) => b.length === head.length);
  const w = head.map((h, i) => Math.max(h.length, ...full.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `    ${cells.map((c, i) => (i <= 1 ? c.padEnd(w[i]!) : i === cells.length - 1 && i === head.length - 1 ? c : c.padStart(w[i]!))).join('  ')}`.trimEnd();
  const out = [line(head)];
  for (const b of body) out.push(b.length === head.length ? line(b) : `    ${b[0]!.padEnd(w[0]!)}  ${b[1]!.padEnd(w[1]!)}  ${b[2]}`);
  const notes = rows.filter((r) => r.run && r.serverCpu.status === 'not measured');
  for (const r of notes) if (r.serverCpu.status === 'not measured') out.push(`    ${r.topology}: server CPU not measured: ${r.serverCpu.reason}`);
  return out;
}

const csvCell = (v: unknown) => {
  const s = v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** One CSV row per topology (and size). */
export function renderComparisonCsv(rows: readonly ComparisonRow[]): string {
  const head = ['peers', 'topology', 'run', 'not_run_reason', 'ok', 'connections_up', 'connections_expected', 'upload_bps', 'upload_streams', 'download_bps', 'download_streams', 'stream_bps', 'expected_upload_streams', 'expected_download_streams', 'server_cpu_pct', 'server_cpu_status', 'delay_kind', 'delay_p50_ms', 'delay_p99_ms', 'delay_count'];
  const lines = rows.map((r) => [
    r.peers, r.topology, r.run, r.notRun, r.ok, r.connections?.up, r.connections?.expected,
    r.upload?.perPeerBps.toFixed(0), r.upload?.ratio?.toFixed(3), r.download?.perPeerBps.toFixed(0), r.download?.ratio?.toFixed(3), r.streamBps?.toFixed(0),
    r.expected.upload, r.expected.download,
    r.serverCpu.status === 'measured' ? r.serverCpu.pctOfCore.toFixed(2) : undefined, r.serverCpu.status,
    r.delay?.kind, r.delay?.p50Ms.toFixed(3), r.delay?.p99Ms.toFixed(3), r.delay?.count,
  ]);
  return [head, ...lines].map((l) => l.map(csvCell).join(',')).join('\n') + '\n';
}

/** Per metric, per topology, [N, value] points: only with more than one size (a sweep). */
export function sweepSeries(rows: readonly ComparisonRow[]): Record<string, Record<string, [number, number][]>> {
  if (new Set(rows.map((r) => r.peers)).size < 2) return {};
  const metrics: [string, (r: ComparisonRow) => number | undefined][] = [
    ['upload per peer (streams)', (r) => r.upload?.ratio],
    ['download per peer (streams)', (r) => r.download?.ratio],
    ['server CPU (% of a core)', (r) => (r.serverCpu.status === 'measured' ? r.serverCpu.pctOfCore : undefined)],
    ['delay p50 (ms)', (r) => r.delay?.p50Ms],
    ['delay p99 (ms)', (r) => r.delay?.p99Ms],
  ];
  const out: Record<string, Record<string, [number, number][]>> = {};
  for (const [name, pick] of metrics) {
    const m: Record<string, [number, number][]> = {};
    for (const r of rows) {
      const v = r.run ? pick(r) : undefined;
      if (v === undefined) continue;
      (m[r.topology] ??= []).push([r.peers, +v.toFixed(4)]);
    }
    if (Object.keys(m).length) out[name] = m;
  }
  return out;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * The page of a comparison: the verdict, bars of upload and download per
 * topology (in streams), of the server CPU and of the delay p50/p99, the
 * table, then each run's own figures. Inline SVG drawn by inline script, no
 * network request.
 */
export function renderComparisonHtml(o: { ok: boolean; verdict: string; rows: readonly ComparisonRow[]; details: { title: string; text: string[] }[] }): string {
  const label = (r: ComparisonRow) => (new Set(o.rows.map((x) => x.peers)).size > 1 ? `N=${r.peers} ${r.topology}` : r.topology);
  const ran = o.rows.filter((r) => r.run);
  const data = {
    traffic: ran.map((r) => ({ k: label(r), v: [r.upload?.ratio ?? 0, r.download?.ratio ?? 0] })),
    cpu: ran.filter((r) => r.serverCpu.status === 'measured').map((r) => ({ k: label(r), v: [r.serverCpu.status === 'measured' ? r.serverCpu.pctOfCore : 0] })),
    delay: ran.filter((r) => r.delay).map((r) => ({ k: `${label(r)} (${r.delay!.kind})`, v: [r.delay!.p50Ms, r.delay!.p99Ms] })),
    vsN: sweepSeries(o.rows),
  };
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const notRun = o.rows.filter((r) => !r.run).map((r) => `<li>${esc(label(r))}: ${r.error ? 'could not run' : 'not run'}: ${esc(r.notRun ?? '')}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtcprobe bench: topology comparison</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1000px}h1{font-size:1.2em}.ok{color:#070}.bad{color:#b00}pre{background:#f6f6f6;padding:1em;overflow:auto}svg{border:1px solid #ddd;background:#fff;margin:.5em 0}</style>
</head><body>
<h1 class="${o.ok ? 'ok' : 'bad'}">${esc(o.verdict)}</h1>
<section id="comparison"><h2>Topology comparison</h2>
${notRun ? `<ul>${notRun}</ul>` : ''}
<h3>Client upload / download per peer, in streams of the workload (blue: upload, red: download)</h3><div id="traffic"></div>
<h3>Server CPU over the window (% of one core)</h3><div id="cpu"></div>
<h3>Delay p50 / p99 (ms; blue: p50, red: p99): audio one-way for mesh, SFU and TURN; mouth-to-ear for the MCU</h3><div id="delay"></div>
${Object.keys(data.vsN).length ? '<h3>As functions of N (peers)</h3><div id="vsn"></div>' : ''}
<pre>${esc(renderComparisonText(o.rows).join('\n'))}</pre></section>
${o.details.map((d) => `<h2>${esc(d.title)}</h2><pre>${esc(d.text.join('\n'))}</pre>`).join('\n')}
<script>
const D=${json};
const NS=['http:','','www.w3.org','2000','svg'].join('/');
function el(n,a,p){const e=document.createElementNS(NS,n);for(const k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e;}
function txt(p,x,y,s,anchor){const t=el('text',{x,y,'font-size':11,'text-anchor':anchor||'start'},p);t.textContent=s;return t;}
const COLORS=['#1f77b4','#d62728','#2ca02c'];
function bars(id,items,unit){const W=900,row=26,L=220;const H=items.length*row+10;const s=el('svg',{width:W,height:H},document.getElementById(id));
let max=0;for(const it of items)for(const v of it.v)max=Math.max(max,v);max=max||1;
items.forEach((it,i)=>{txt(s,L-6,i*row+18,it.k,'end');it.v.forEach((v,j)=>{const w=(W-L-140)*v/max;el('rect',{x:L,y:i*row+4+j*(row-6)/it.v.length,width:Math.max(1,w),height:(row-6)/it.v.length,fill:COLORS[j]},s);});
txt(s,L+(W-L-140)*Math.max(...it.v)/max+6,i*row+18,it.v.map(v=>unit(v)).join(' / '));});}
bars('traffic',D.traffic,v=>v.toFixed(2)+'×');
bars('cpu',D.cpu,v=>v.toFixed(1)+' %');
bars('delay',D.delay,v=>v.toFixed(1)+' ms');
const TC={mesh:'#1f77b4',sfu:'#d62728',mcu:'#2ca02c',turn:'#ff7f0e'};
for(const m of Object.keys(D.vsN)){const W=440,H=220,L=50,B=30,R=90;const box=document.getElementById('vsn');const s=el('svg',{width:W,height:H},box);
txt(s,L,14,m);const ser=D.vsN[m];let xs=[],ys=[0];for(const t in ser)for(const p of ser[t]){xs.push(p[0]);ys.push(p[1]);}
const x0=Math.min(...xs),x1=Math.max(...xs),y1=Math.max(...ys)||1;const X=v=>L+(W-L-R)*(x1>x0?(v-x0)/(x1-x0):0.5),Y=v=>H-B-(H-B-24)*v/y1;
el('line',{x1:L,y1:H-B,x2:W-R,y2:H-B,stroke:'#000'},s);el('line',{x1:L,y1:24,x2:L,y2:H-B,stroke:'#000'},s);
for(const x of [...new Set(xs)])txt(s,X(x),H-B+14,'N='+x,'middle');txt(s,L-4,Y(y1)+4,(+y1.toFixed(2))+'','end');txt(s,L-4,H-B,'0','end');
Object.keys(ser).forEach((t,i)=>{el('polyline',{points:ser[t].map(p=>X(p[0]).toFixed(1)+','+Y(p[1]).toFixed(1)).join(' '),fill:'none',stroke:TC[t],'stroke-width':1.5},s);
for(const p of ser[t])el('circle',{cx:X(p[0]),cy:Y(p[1]),r:2.5,fill:TC[t]},s);txt(s,W-R+8,30+i*14,t).setAttribute('fill',TC[t]);});}
</script>
</body></html>
`;
}
