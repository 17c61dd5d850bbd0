// Results printer: each figure as its median over the rounds with its spread, and as
// a ratio to a baseline measured in the same rounds. The ratio is taken round by round
// (figure of round i / baseline of round i) and then summarised, so that load that
// changes during the run affects both sides of each ratio alike.
// Spread = interquartile range (q1-q3) and min-max over the rounds (see stats.mjs).
import { cpus, loadavg } from 'node:os';
import { pairedRatios, summary } from './stats.mjs';

export const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** Significant-figure formatting for ratios and rates. */
export function sig(x, n = 3) {
  if (!Number.isFinite(x)) return '-';
  if (x === 0) return '0';
  const d = Math.max(0, n - 1 - Math.floor(Math.log10(Math.abs(x))));
  return x.toFixed(Math.min(d, 6));
}

/**
 * rows: [{ key, label, values: number[] (one per round, NaN = no figure that round),
 *          baseline?: key of the row this one is compared to, note?: string }]
 * Prints one line per row; returns { [key]: { ...summary, ratio?: { to, ...summary } } }.
 */
export function printTable({ title, unit, rows, digits = 1, out = (l) => console.log(l) }) {
  const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
  const result = {};
  const w = Math.max(...rows.map((r) => r.label.length), 8);
  out(title);
  out(`  ${'measure'.padEnd(w)}  ${`median ${unit}`.padStart(12)}  ${'IQR'.padStart(19)}  ${'min-max'.padStart(19)}   ratio to baseline, same rounds: median [IQR] (min-max)`);
  for (const r of rows) {
    const s = summary(r.values);
    const entry = { ...s, values: r.values };
    let ratioText = r.baseline ? '' : 'baseline';
    if (r.baseline) {
      const base = byKey[r.baseline];
      const rs = summary(pairedRatios(r.values, base.values));
      entry.ratio = { to: r.baseline, ...rs };
      ratioText = `${sig(rs.median)}x ${base.label} [${sig(rs.q1)}-${sig(rs.q3)}] (${sig(rs.min)}-${sig(rs.max)}), ${rs.n} rounds`;
    }
    result[r.key] = entry;
    const missing = r.values.length - s.n;
    out(`  ${r.label.padEnd(w)}  ${fmt(s.median, digits).padStart(12)}  ${`${fmt(s.q1, digits)}-${fmt(s.q3, digits)}`.padStart(19)}  ${`${fmt(s.min, digits)}-${fmt(s.max, digits)}`.padStart(19)}   ${ratioText}${missing ? `; ${missing} round(s) without a figure` : ''}${r.note ? `  ${r.note}` : ''}`);
  }
  return result;
}

/** `uptime`-style load averages (1, 5, 15 min) and the number of CPUs. */
export function load() {
  const [l1, l5, l15] = loadavg();
  return { load1: Number(l1.toFixed(2)), load5: Number(l5.toFixed(2)), load15: Number(l15.toFixed(2)), cpus: cpus().length };
}
export const loadText = (l) => `load average ${l.load1}, ${l.load5}, ${l.load15} on ${l.cpus} CPUs`;

/** Header and footer lines that make a figure reproducible: command, date, load, versions. */
export function header(name, command) {
  const start = { date: new Date().toISOString(), load: load() };
  console.log(`${name}: ${command}`);
  console.log(`  started ${start.date}, ${loadText(start.load)}, node ${process.version}`);
  return start;
}
export function footer(start) {
  const end = { date: new Date().toISOString(), load: load() };
  console.log(`  ended ${end.date}, ${loadText(end.load)} (started with ${loadText(start.load)})`);
  return end;
}
