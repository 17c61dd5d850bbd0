/**
 * The `rtcprobe bench --html` report, opened in a real browser: a headless
 * Chromium loads the file (file://; any other request is refused and
 * recorded), the test takes a screenshot and checks that every chart drew
 * (SVG shapes with real geometry, and the series' colours in the rendered
 * pixels), with no console error and no network request.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { runJson } from '../helpers/cli.js';
import { describeWithChromium, expectLoopbackOnly, launchChromium, type TestBrowser } from '../helpers/browser.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

interface ChartFacts {
  cdf: { svgs: number; lines: { stroke: string; points: number; length: number; finite: boolean }[]; labels: string[]; legendHits: string[] };
  /** Text labels that do not fit inside their SVG's box (cut off on screen). */
  clipped: string[];
  connect: { rects: number; widths: number[]; labels: string[] };
  bytes: { rects: number; widths: number[]; labels: string[] };
  verdict: string;
}

describeWithChromium('the bench --html report in Chromium', () => {
  let browser: TestBrowser;
  const dir = mkdtempSync(join(tmpdir(), `rtcprobe-browser-report-${process.pid}-`));
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('draws its charts from the run\'s figures, no console error, no request but the file itself', async () => {
    const html = join(dir, 'report.html');
    const r = await runJson<{ ok: boolean; aggregate: { dc?: { reliable: { rttMs?: { count: number } } } }; upload: { peers: { peerId: string }[] } }>(['bench', '--duration', '1', '--warmup', '0.3', '--html', html], { timeout: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.aggregate.dc!.reliable.rttMs!.count).toBeGreaterThan(20);

    const { page, log } = await browser.newPage({ allow: (url) => url.startsWith('file://') || url.startsWith('data:image/png;base64,') });
    try {
      await page.setViewport({ width: 1100, height: 1400 });
      const url = pathToFileURL(html).href;
      const res = await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
      expect(res?.ok()).toBe(true);
      const facts = await page.evaluate((): ChartFacts => {
        const svgOf = (id: string) => [...document.querySelectorAll(`#${id} svg`)] as SVGSVGElement[];
        const texts = (s: SVGSVGElement[]) => s.flatMap((x) => [...x.querySelectorAll('text')].map((t) => t.textContent ?? ''));
        const bars = (id: string) => {
          const s = svgOf(id);
          const rects = s.flatMap((x) => [...x.querySelectorAll('rect')]) as SVGRectElement[];
          return { rects: rects.length, widths: rects.map((x) => x.getBBox().width), labels: texts(s) };
        };
        const cdf = svgOf('cdf');
        const lines = cdf.flatMap((x) => [...x.querySelectorAll('polyline')]) as SVGPolylineElement[];
        // Every label inside its SVG's box, in screen pixels.
        const clipped: string[] = [];
        for (const svg of document.querySelectorAll('svg')) {
          const box = svg.getBoundingClientRect();
          for (const t of svg.querySelectorAll('text')) {
            const r = t.getBoundingClientRect();
            if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) clipped.push(t.textContent ?? '');
          }
        }
        // The legend (texts naming a curve) clear of every curve: sample each curve every 2 px.
        const names = new Set(lines.map((l) => l.getAttribute('stroke')));
        const legend = cdf.flatMap((x) => [...x.querySelectorAll('text')]).filter((t) => names.has(t.getAttribute('fill')));
        const legendHits: string[] = [];
        for (const t of legend) {
          const b = t.getBBox();
          for (const l of lines) {
            const len = l.getTotalLength();
            for (let d = 0; d <= len; d += 2) {
              const pt = l.getPointAtLength(d);
              if (pt.x >= b.x && pt.x <= b.x + b.width && pt.y >= b.y && pt.y <= b.y + b.height) {
                legendHits.push(`${t.textContent ?? ''} × ${l.getAttribute('stroke') ?? ''}`);
                break;
              }
            }
          }
        }
        return {
          clipped,
          cdf: {
            svgs: cdf.length,
            lines: lines.map((l) => {
              const pts = [...l.points];
              return { stroke: l.getAttribute('stroke') ?? '', points: pts.length, length: l.getTotalLength(), finite: pts.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y)) };
            }),
            labels: texts(cdf),
            legendHits,
          },
          connect: bars('connect'),
          bytes: bars('bytes'),
          verdict: document.querySelector('h1')?.textContent ?? '',
        };
      });
      expect(facts.verdict).toBe((r.json as unknown as { verdict: string }).verdict);
      // CDFs: one curve per latency path of the run (DC reliable/unreliable, audio, video), each a real line.
      expect(facts.cdf.svgs).toBe(1);
      expect(facts.cdf.lines.length).toBe(4);
      for (const l of facts.cdf.lines) {
        expect(l.finite).toBe(true);
        expect(l.points).toBeGreaterThan(10);
        expect(l.length).toBeGreaterThan(100);
      }
      expect(facts.cdf.labels).toEqual(expect.arrayContaining(['DC RTT reliable', 'DC RTT unreliable', 'audio one-way', 'video one-way', '100%']));
      // Readable: no label cut off at a chart's edge, no legend entry drawn over a curve.
      expect(facts.clipped).toEqual([]);
      expect(facts.cdf.legendHits).toEqual([]);
      // Connect phases and bytes per peer: bars with a width, one label per bar.
      expect(facts.connect.rects).toBeGreaterThan(3);
      expect(facts.connect.widths.every((w) => w >= 1)).toBe(true);
      expect(facts.connect.labels).toEqual(expect.arrayContaining(['total']));
      expect(facts.bytes.rects).toBe(2 * r.json.upload.peers.length);
      expect(Math.max(...facts.bytes.widths)).toBeGreaterThan(300);
      for (const p of r.json.upload.peers) expect(facts.bytes.labels).toContain(`${p.peerId} sent/received`);

      // The screenshot, and the curves' colours in its pixels (read back through a canvas).
      const shot = join(dir, 'report.png') as `${string}.png`;
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(20_000);
      const png = readFileSync(shot);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      const cdfShot = Buffer.from(await (await page.$('#cdf svg'))!.screenshot({ type: 'png' })).toString('base64');
      const colours = facts.cdf.lines.map((l) => l.stroke);
      const pixels = await page.evaluate(async (b64: string, want: string[]) => {
        const img = new Image();
        img.src = `data:image/png;base64,${b64}`;
        await img.decode();
        const c = document.createElement('canvas');
        c.width = img.width;
        c.height = img.height;
        const ctx = c.getContext('2d')!;
        ctx.drawImage(img, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        const rgb = want.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
        const counts = want.map(() => 0);
        let nonWhite = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i]! < 250 || d[i + 1]! < 250 || d[i + 2]! < 250) nonWhite++;
          rgb.forEach((c, k) => {
            if (Math.abs(d[i]! - c[0]!) + Math.abs(d[i + 1]! - c[1]!) + Math.abs(d[i + 2]! - c[2]!) < 40) counts[k]!++;
          });
        }
        return { counts, nonWhite, total: d.length / 4 };
      }, cdfShot, colours);
      // Each curve's colour shows up (anti-aliasing blends some pixels: a tolerance of 40 on the RGB sum).
      for (const n of pixels.counts) expect(n).toBeGreaterThan(50);
      expect(pixels.nonWhite / pixels.total).toBeGreaterThan(0.005);

      expect(log.errors).toEqual([]);
      // No request but the report file itself and the screenshot's data: URL decoded in the page (never the network).
      expect(log.refused).toEqual([]);
      expect(log.requests.filter((u) => !u.startsWith('data:'))).toEqual([url]);
    } finally {
      await page.close().catch(() => {});
    }
  });

  it('Chromium itself reached nothing but this machine (its NetLog)', async () => {
    const net = await browser.close();
    expectLoopbackOnly(net);
  });
});
