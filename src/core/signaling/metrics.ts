/**
 * A small Prometheus registry any rtcprobe server can use: counters (with or
 * without one label), gauges read at scrape time, histograms, and the text
 * exposition format 0.0.4. Labels common to every sample (such as the
 * instance id) are given once to the registry. No I/O: `expose()` returns text.
 */

/** One sample line: name suffix (`_bucket`, ...), labels (`a="b"`, may be empty), value. */
type Sample = [suffix: string, labels: string, value: number];

interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  samples(): Sample[];
}

/** A label value as the exposition format wants it: backslash, quote and newline escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A counter without labels. */
export class Counter {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

/**
 * A counter with one label. `values` is the live record (label value -> count),
 * readable by callers that want the figures without the text format.
 */
export class LabelledCounter {
  readonly values: Record<string, number> = {};
  constructor(readonly label: string) {}
  inc(labelValue: string, n = 1): void {
    this.values[labelValue] = (this.values[labelValue] ?? 0) + n;
  }
}

/** A histogram with fixed upper bounds (the +Inf bucket is implicit). */
export class Histogram {
  readonly bounds: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.bounds = [...bounds].sort((a, b) => a - b);
    this.counts = this.bounds.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (v <= this.bounds[i]!) this.counts[i]!++;
  }
}

export class MetricsRegistry {
  private readonly families: Family[] = [];
  private readonly constLabels: string;

  /** `constLabels` are put first on every sample, in the order given. */
  constructor(constLabels: Record<string, string> = {}) {
    this.constLabels = Object.entries(constLabels).map(([k, v]) => this.labelPair(k, v)).join(',');
  }

  private labelPair(name: string, value: string): string {
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${name}`);
    return `${name}="${escapeLabelValue(value)}"`;
  }

  private add(name: string, type: Family['type'], help: string, samples: () => Sample[]): void {
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${name}`);
    if (this.families.some((f) => f.name === name)) throw new Error(`metric ${name} registered twice`);
    this.families.push({ name, type, help, samples });
  }

  counter(name: string, help: string): Counter {
    const c = new Counter();
    this.add(name, 'counter', help, () => [['', '', c.value]]);
    return c;
  }

  /** A counter by one label; samples are sorted by label value. */
  labelledCounter(name: string, help: string, label: string): LabelledCounter {
    const c = new LabelledCounter(label);
    this.labelPair(label, '');
    this.add(name, 'counter', help, () =>
      Object.entries(c.values)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]): Sample => ['', this.labelPair(label, k), v]));
    return c;
  }

  /** A gauge whose value is read when the metrics are exposed. */
  gauge(name: string, help: string, read: () => number): void {
    this.add(name, 'gauge', help, () => [['', '', read()]]);
  }

  /** A counter kept elsewhere (it must only grow), read when the metrics are exposed. */
  counterOf(name: string, help: string, read: () => number): void {
    this.add(name, 'counter', help, () => [['', '', read()]]);
  }

  /** A histogram: `<name>_bucket{le=...}` (cumulative), `<name>_sum`, `<name>_count`. */
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    const h = new Histogram(bounds);
    this.add(name, 'histogram', help, () => [
      ...h.bounds.map((b, i): Sample => ['_bucket', `le="${b}"`, h.counts[i]!]),
      ['_bucket', 'le="+Inf"', h.count],
      ['_sum', '', h.sum],
      ['_count', '', h.count],
    ]);
    return h;
  }

  /** Every family in the text exposition format 0.0.4, in registration order. */
  expose(): string {
    const out: string[] = [];
    for (const f of this.families) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.type}`);
      for (const [suffix, labels, v] of f.samples()) out.push(`${f.name}${suffix}${this.braces(labels)} ${v}`);
    }
    return `${out.join('\n')}\n`;
  }

  private braces(labels: string): string {
    const all = [this.constLabels, labels].filter(Boolean).join(',');
    return all ? `{${all}}` : '';
  }
}
