/**
 * Renderings of a benchmark result: a text table, CSV rows, and one
 * self-contained HTML page (inline SVG drawn by inline script, no network
 * request). Pure: strings in, strings out.
 */
import type { Summary } from './summary.js';
import type { BenchAggregate, ProcessUsage, RoomServerReport, UploadReport, SloResult } from './report.js';
import type { ConnSide } from './report.js';
import { limitLine, type DcThroughput, type LimitVerdict } from './throughput.js';

/** What the renderers need of a result (the runner's BenchResult has all of it). */
export interface RenderableResult {
  verdict: string;
  ok: boolean;
  partial: boolean;
  topology: string;
  peers: number;
  windowMs: number;
  connections: { expected: number; up: number; failed: number; failures: { peerId: string; remote: string; code: string; message: string }[] };
  aggregate: BenchAggregate;
  upload: UploadReport;
  dcThroughput?: DcThroughput;
  limit?: LimitVerdict;
  clock: { note: string; maxUncertaintyMs?: number };
  turn?: { server: string; startedHere: boolean; allocations?: number; channelBinds?: number; relayedBytes?: number; sidesThroughIt?: number };
  processes: ProcessUsage[];
  server?: RoomServerReport;
  slo?: { ok: boolean; rules: SloResult[] };
  perConnection: ConnSide[];
}

const ms = (x: number | undefined) => (x === undefined ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const pct = (x: number | undefined) => (x === undefined ? '-' : `${(x * 100).toFixed(x === 0 ? 0 : 2)}%`);
const kb = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(1)} kB`);
const kbps = (bps: number) => `${((bps * 8) / 1000).toFixed(0)} kbit/s`;

function sumRow(name: string, s: Summary | undefined): string[] {
  return [name, String(s?.count ?? 0), ms(s?.min), ms(s?.p50), ms(s?.p95), ms(s?.p99), ms(s?.max)];
}

function table(rows: string[][]): string[] {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `    ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')}`);
}

/** The human text after the verdict line. */
export function renderBenchText(r: RenderableResult): string[] {
  const a = r.aggregate;
  const lines: string[] = [];
  const rows = [['latency (ms)', 'n', 'min', 'p50', 'p95', 'p99', 'max']];
  if (a.dc) {
    rows.push(sumRow('DC RTT reliable', a.dc.reliable.rttMs));
    rows.push(sumRow('DC RTT unreliable', a.dc.unreliable.rttMs));
    rows.push(sumRow('DC one-way', a.dc.reliable.forwardMs));
  }
  if (a.audio) rows.push(sumRow('audio one-way', a.audio.oneWayMs));
  if (a.video) rows.push(sumRow('video one-way', a.video.oneWayMs));
  rows.push(sumRow('connect (to DC open)', a.connectMs.total));
  lines.push(...table(rows));
  const q = [['stream', 'sent/expected', 'lost', 'loss', 'reordered', 'jitter mean/max ms']];
  if (a.dc) {
    q.push(['DC reliable', String(a.dc.reliable.sent), String(a.dc.reliable.sent - a.dc.reliable.echoed), pct(a.dc.reliable.lossRatio), String(a.dc.reliable.reordered), '-']);
    q.push(['DC unreliable', String(a.dc.unreliable.sent), String(a.dc.unreliable.sent - a.dc.unreliable.echoed), pct(a.dc.unreliable.lossRatio), String(a.dc.unreliable.reordered), '-']);
  }
  for (const [n, s] of [['audio RTP', a.audio], ['video RTP', a.video]] as const) {
    if (s) q.push([n, String(s.expected), String(s.lost), pct(s.lossRatio), String(s.reordered), s.jitterMs ? `${ms(s.jitterMs.mean)}/${ms(s.jitterMs.max)}` : '-']);
  }
  lines.push('', ...table(q));
  const cb = a.connectMs;
  const phases = (['join', 'offerToAnswer', 'iceGathering', 'iceConnected', 'dtlsConnected', 'dataChannelOpen'] as const).filter((k) => cb[k]);
  if (phases.length) lines.push('', `    connect phases p50 (ms): ${phases.map((k) => `${k} ${ms(cb[k]!.p50)}`).join(', ')}`);
  lines.push(`    candidate pairs: ${Object.entries(a.pairs).map(([k, v]) => `${k} ×${v}`).join(', ') || 'none'}`);
  const u = r.upload;
  lines.push(
    '',
    `    upload per peer ${kbps(u.perPeerBps)} = ${u.ratio.toFixed(2)} × one connection's ${kbps(u.perConnectionBps)} (${r.topology === 'sfu' ? 'through an SFU: 1' : `mesh: N−1 = ${u.expectedRatio}`}); configured payload per connection ${kbps(u.nominalPerConnectionBps)}`,
    ...(u.downloadPerPeerBps !== undefined ? [`    download per peer ${kbps(u.downloadPerPeerBps)}`] : []),
  );
  const pr = [['peer', 'connections', 'sent', 'received', 'upload']];
  for (const p of u.peers) pr.push([p.peerId, String(p.connections), kb(p.bytesSent), kb(p.bytesReceived), kbps(p.sendBps)]);
  lines.push(...table(pr));
  if (r.limit && r.aggregate.dc) lines.push('', `    ${limitLine(r.dcThroughput, r.limit)}`);
  lines.push('', `    clock: ${r.clock.note}${r.clock.maxUncertaintyMs !== undefined ? `; offset uncertainty ≤ ${ms(r.clock.maxUncertaintyMs)} ms` : ''}`);
  if (r.turn) lines.push(`    turn: ${r.turn.server}${r.turn.startedHere ? ' (coturn started for this run)' : ''}${r.turn.allocations !== undefined ? `; coturn logged ${r.turn.allocations} allocation(s) and ${r.turn.channelBinds ?? 0} channel binding(s)` : ''}${r.turn.sidesThroughIt !== undefined ? `; ${r.turn.sidesThroughIt} connection side(s) used one of its relay ports` : ''}`);
  if (r.server) lines.push(`    ${r.server.role} server: ${r.server.forwardedPackets} RTP packets forwarded, receive-to-send mean ${r.server.forwardMeanMs !== undefined ? `${ms(r.server.forwardMeanMs)} ms` : '-'}, CPU ${ms(r.server.cpuMs)} ms, peak RSS ${(r.server.maxRssBytes / 1e6).toFixed(0)} MB`);
  for (const p of r.processes) lines.push(`    process ${p.role}${p.pid ? ` ${p.pid}` : ''} (${p.peers} peer(s)): CPU ${ms(p.cpuMs)} ms, peak RSS ${(p.maxRssBytes / 1e6).toFixed(0)} MB`);
  for (const f of r.connections.failures) lines.push(`    ✖ ${f.peerId} → ${f.remote}: ${f.code}: ${f.message}`);
  for (const s of r.slo?.rules ?? []) lines.push(`    SLO ${s.ok ? 'met' : 'BREACHED'}: ${s.text} (measured ${s.value === undefined ? 'nothing' : s.metric.includes('loss') ? pct(s.value) : `${ms(s.value)} ms`})`);
  return lines;
}

/**
 * One connection side's one-way delays for a human line: data-channel forward (this side to the
 * remote) and backward on the reliable channel, audio and video RTP, each p50/p99 in ms, and the
 * clock they rest on (one process, or the estimated offset with its uncertainty); or why one-way
 * delay is unknown. Undefined when the side is not up (nothing was measured).
 */
export function renderOneWay(c: ConnSide): string | undefined {
  if (c.state !== 'up' && !c.dc && !c.audio && !c.video) return undefined;
  const pp = (s: Summary) => `${ms(s.p50)}/${ms(s.p99)}`;
  const parts: string[] = [];
  const dc = c.dc?.reliable;
  if (dc?.forwardMs) parts.push(`DC forward ${pp(dc.forwardMs)}`);
  if (dc?.backwardMs) parts.push(`DC backward ${pp(dc.backwardMs)}`);
  if (c.audio?.oneWayMs) parts.push(`audio ${pp(c.audio.oneWayMs)}`);
  if (c.video?.oneWayMs) parts.push(`video ${pp(c.video.oneWayMs)}`);
  const clock = c.dc?.clock;
  if (parts.length) {
    const basis = c.sameClock
      ? 'one clock: the sender runs in this process'
      : clock
        ? `remote clock offset ${clock.offsetMs >= 0 ? '+' : '−'}${ms(Math.abs(clock.offsetMs))} ± ${ms(clock.uncertaintyMs)} ms, from ${clock.exchanges} DC round trips`
        : undefined;
    return `one-way p50/p99 ms: ${parts.join(', ')}${basis ? ` (${basis})` : ''}`;
  }
  const why = c.audio?.oneWayUnknown ?? c.video?.oneWayUnknown;
  if (why) return `one-way delay unknown: ${why}`;
  if (c.dc && !c.sameClock && !clock) return 'one-way delay unknown: the remote runs in another process (own clock) and no data-channel echo came back yet to estimate the clock offset from';
  return 'one-way delay: nothing measured yet';
}

const csvCell = (v: unknown) => {
  const s = v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** One row per connection side. */
export function renderBenchCsv(r: RenderableResult): string {
  const head = [
    'peer', 'remote', 'role', 'state', 'pair_local', 'pair_remote', 'connect_ms', 'ice_ms', 'dtls_ms',
    'dc_rtt_p50_ms', 'dc_rtt_p99_ms', 'dc_rtt_max_ms', 'dc_loss', 'dcu_rtt_p99_ms', 'dcu_loss',
    'audio_loss', 'audio_jitter_ms', 'audio_owd_p99_ms', 'video_loss', 'video_jitter_ms', 'bytes_sent', 'bytes_received', 'window_ms',
  ];
  const rows = r.perConnection.map((c) => [
    c.peerId, c.remote, c.role, c.state, c.pair?.local, c.pair?.remote, c.connectMs?.sinceStart.dataChannelOpen?.toFixed(2), c.connectMs?.iceConnected?.toFixed(2), c.connectMs?.dtlsConnected?.toFixed(2),
    c.dc?.reliable.rttMs?.p50.toFixed(3), c.dc?.reliable.rttMs?.p99.toFixed(3), c.dc?.reliable.rttMs?.max.toFixed(3), c.dc?.reliable.lossRatio, c.dc?.unreliable.rttMs?.p99.toFixed(3), c.dc?.unreliable.lossRatio,
    c.audio?.stream.lossRatio, c.audio?.stream.jitterMs?.toFixed(3), c.audio?.oneWayMs?.p99.toFixed(3), c.video?.stream.lossRatio, c.video?.stream.jitterMs?.toFixed(3), c.bytes.sent, c.bytes.received, c.windowMs.toFixed(0),
  ]);
  return [head, ...rows].map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}

/** CDF points of a sample set: at most `n` (value, fraction) pairs. */
export function cdfPoints(values: readonly number[], n = 200): [number, number][] {
  if (!values.length) return [];
  const s = Float64Array.from(values).sort();
  const out: [number, number][] = [];
  const step = Math.max(1, Math.floor(s.length / n));
  for (let i = 0; i < s.length; i += step) out.push([+s[i]!.toFixed(4), +((i + 1) / s.length).toFixed(4)]);
  out.push([+s[s.length - 1]!.toFixed(4), 1]);
  return out;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * One HTML page: the verdict, CDFs of the latencies per path, the connect
 * phases and the bytes per peer, drawn as SVG by inline script. No external
 * resource of any kind.
 */
export function renderBenchHtml(r: RenderableResult, cdfs: Record<string, number[]>): string {
  const data = {
    cdf: Object.fromEntries(Object.entries(cdfs).filter(([, v]) => v.length).map(([k, v]) => [k, cdfPoints(v)])),
    connect: Object.fromEntries(Object.entries(r.aggregate.connectMs).map(([k, s]) => [k, s ? s.p50 : 0])),
    peers: r.upload.peers.map((p) => ({ id: p.peerId, sent: p.bytesSent, received: p.bytesReceived })),
  };
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const text = esc(renderBenchText(r).join('\n'));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtcprobe bench: ${esc(r.topology)}, ${r.peers} peers</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1000px}h1{font-size:1.2em}.ok{color:#070}.bad{color:#b00}pre{background:#f6f6f6;padding:1em;overflow:auto}svg{border:1px solid #ddd;background:#fff;margin:.5em 0}</style>
</head><body>
<h1 class="${r.ok ? 'ok' : 'bad'}">${esc(r.verdict)}</h1>
<h2>Latency distributions (CDF)</h2><div id="cdf"></div>
<h2>Connect-time breakdown (p50, ms)</h2><div id="connect"></div>
<h2>Bytes per peer</h2><div id="bytes"></div>
<h2>Figures</h2><pre>${text}</pre>
<script>
const D=${json};
const NS=['http:','','www.w3.org','2000','svg'].join('/');
function el(n,a,p){const e=document.createElementNS(NS,n);for(const k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e;}
function txt(p,x,y,s,anchor){const t=el('text',{x,y,'font-size':11,'text-anchor':anchor||'start'},p);t.textContent=s;return t;}
const COLORS=['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b'];
(function(){const W=900,H=320,L=50,B=30;const s=el('svg',{width:W,height:H},document.getElementById('cdf'));
const keys=Object.keys(D.cdf);let max=0;for(const k of keys)for(const p of D.cdf[k])max=Math.max(max,p[0]);max=max||1;
el('line',{x1:L,y1:H-B,x2:W-10,y2:H-B,stroke:'#000'},s);el('line',{x1:L,y1:10,x2:L,y2:H-B,stroke:'#000'},s);
for(let i=0;i<=4;i++){const v=max*i/4;txt(s,L+(W-L-10)*i/4,H-B+14,v.toFixed(2)+' ms',i===4?'end':'middle');txt(s,L-4,H-B-(H-B-10)*i/4+4,(i*25)+'%','end');}
keys.forEach((k,i)=>{const pts=D.cdf[k].map(p=>(L+(W-L-10)*p[0]/max).toFixed(1)+','+(H-B-(H-B-10)*p[1]).toFixed(1)).join(' ');
el('polyline',{points:pts,fill:'none',stroke:COLORS[i%COLORS.length],'stroke-width':1.5},s);txt(s,W-200,H-B-10-(keys.length-1-i)*14,k).setAttribute('fill',COLORS[i%COLORS.length]);});})();
function bars(id,items,unit){const W=900,row=22,L=170;const H=items.length*row+10;const s=el('svg',{width:W,height:H},document.getElementById(id));
let max=0;for(const it of items)for(const v of it.v)max=Math.max(max,v);max=max||1;
items.forEach((it,i)=>{txt(s,L-6,i*row+16,it.k,'end');it.v.forEach((v,j)=>{const w=(W-L-120)*v/max;el('rect',{x:L,y:i*row+4+j*(row-6)/it.v.length,width:Math.max(1,w),height:(row-6)/it.v.length,fill:COLORS[j]},s);});
txt(s,L+(W-L-120)*Math.max(...it.v)/max+6,i*row+16,it.v.map(v=>unit(v)).join(' / '));});}
bars('connect',Object.keys(D.connect).map(k=>({k,v:[D.connect[k]]})),v=>v.toFixed(1)+' ms');
bars('bytes',D.peers.map(p=>({k:p.id+' sent/received',v:[p.sent,p.received]})),v=>(v/1e3).toFixed(0)+' kB');
</script>
</body></html>
`;
}

/** What the MCU CSV needs of an MCU run. */
export interface McuCsvRun {
  peers: number;
  impulses: { pairs: { source: string; listener: string; expected: number; heard: number; mouthToEarMs?: Summary }[] };
}

/** `bench --topology mcu --csv`: one row per source → listener pair (and size). */
export function renderMcuCsv(runs: readonly McuCsvRun[]): string {
  const head = ['peers', 'source', 'listener', 'bursts_expected', 'bursts_heard', 'mouth_to_ear_count', 'mouth_to_ear_p50_ms', 'mouth_to_ear_p95_ms', 'mouth_to_ear_p99_ms', 'mouth_to_ear_max_ms'];
  const rows = runs.flatMap((r) => r.impulses.pairs.map((p) => [
    r.peers, p.source, p.listener, p.expected, p.heard, p.mouthToEarMs?.count, p.mouthToEarMs?.p50.toFixed(3), p.mouthToEarMs?.p95.toFixed(3), p.mouthToEarMs?.p99.toFixed(3), p.mouthToEarMs?.max.toFixed(3),
  ]));
  return [head, ...rows].map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}
