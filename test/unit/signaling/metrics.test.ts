import { describe, expect, it } from 'vitest';
import { MetricsRegistry, escapeLabelValue } from '../../../src/core/signaling/metrics.js';

describe('Prometheus registry', () => {
  it('exposes counters, labelled counters, gauges and histograms in the text format', () => {
    const reg = new MetricsRegistry({ instance_id: 'a-1' });
    const c = reg.counter('x_total', 'Things.');
    const byCode = reg.labelledCounter('x_errors_total', 'Errors, by code.', 'code');
    let open = 3;
    reg.gauge('x_open', 'Open things.', () => open);
    const h = reg.histogram('x_seconds', 'Durations.', [0.5, 0.1, 1]);
    c.inc();
    c.inc(2);
    byCode.inc('ZED');
    byCode.inc('ALPHA', 4);
    for (const v of [0.05, 0.3, 0.7, 5]) h.observe(v);
    open = 7;
    expect(reg.expose()).toBe([
      '# HELP x_total Things.',
      '# TYPE x_total counter',
      'x_total{instance_id="a-1"} 3',
      '# HELP x_errors_total Errors, by code.',
      '# TYPE x_errors_total counter',
      'x_errors_total{instance_id="a-1",code="ALPHA"} 4',
      'x_errors_total{instance_id="a-1",code="ZED"} 1',
      '# HELP x_open Open things.',
      '# TYPE x_open gauge',
      'x_open{instance_id="a-1"} 7',
      '# HELP x_seconds Durations.',
      '# TYPE x_seconds histogram',
      'x_seconds_bucket{instance_id="a-1",le="0.1"} 1',
      'x_seconds_bucket{instance_id="a-1",le="0.5"} 2',
      'x_seconds_bucket{instance_id="a-1",le="1"} 3',
      'x_seconds_bucket{instance_id="a-1",le="+Inf"} 4',
      'x_seconds_sum{instance_id="a-1"} 6.05',
      'x_seconds_count{instance_id="a-1"} 4',
      '',
    ].join('\n'));
    expect(byCode.values).toEqual({ ZED: 1, ALPHA: 4 });
  });

  it('writes samples without braces when there are no labels at all', () => {
    const reg = new MetricsRegistry();
    reg.counterOf('y_total', 'Kept elsewhere.', () => 12);
    expect(reg.expose()).toBe('# HELP y_total Kept elsewhere.\n# TYPE y_total counter\ny_total 12\n');
  });

  it('escapes label values and refuses bad or repeated names', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const reg = new MetricsRegistry({ instance_id: 'we"ird' });
    const byType = reg.labelledCounter('z_total', 'Z.', 'type');
    byType.inc('new\nline');
    expect(reg.expose()).toContain('z_total{instance_id="we\\"ird",type="new\\nline"} 1');
    expect(() => reg.counter('z_total', 'again')).toThrow(/twice/);
    expect(() => reg.counter('bad-name', 'x')).toThrow(/bad metric name/);
    expect(() => reg.labelledCounter('ok_total', 'x', 'bad-label')).toThrow(/bad label name/);
    expect(() => new MetricsRegistry({ 'no way': 'x' })).toThrow(/bad label name/);
  });
});
