import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { renderHtml, reportCharts } from './html.js';
import { renderMarkdown } from './markdown.js';
import { RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, type ResultRow, type RunResults } from '@headbench/results';
import { correctnessRecord, deriveSeed, seededRandom } from '@headbench/stats';

/**
 * A results file shaped like a 3-seed default-preset run with a test split: gap and flatten at
 * two learning rates, flatten at lr 0.1 diverged for one seed; per-image records of 200 val and
 * 120 test images, right with each head's accuracy.
 */
function sampleResults(seeds: readonly number[] = [1, 2, 3]): RunResults {
  const accuracy: Record<string, number> = { 'gap 0.1': 0.72, 'gap 0.01': 0.8, 'flatten 0.1': 0.3, 'flatten 0.01': 0.7 };
  const record = (p: number, n: number, seed: number, split: string) => {
    const r = seededRandom(deriveSeed(seed, `${p} ${split}`));
    return correctnessRecord(Array.from({ length: n }, (_, i) => (((i * 7919) % n) / n < p + 0.08 * (r() - 0.5) ? 1 : 0)), `sha256:${split}`);
  };
  const row = (head: string, lr: number, seed: number): ResultRow => {
    const p = accuracy[`${head} ${lr}`]! + 0.02 * (seed - 2);
    const diverged = head === 'flatten' && lr === 0.1 && seed === 2;
    const accs = diverged ? [0.3] : [p - 0.25, p - 0.1, p];
    const val = record(p, 200, seed, 'val');
    const test = record(p, 120, seed, 'test');
    const ones = (c: { correct: string; images: number }) => [...Buffer.from(c.correct, 'base64')].reduce((s, b) => s + [...Array(8).keys()].filter((k) => (b >> k) & 1).length, 0) / c.images;
    return {
      id: `mobilenetv2|${head}|lr=${lr}|seed=${seed}`, backbone: 'mobilenetv2', head, lr, seed, status: diverged ? 'diverged' : 'ok', plugins: { backbone: 'mobilenetv2@0.1.0', head: `${head}@0.1.0` },
      inputSize: 96, classes: 5, batchSize: 32, epochs: 3, momentum: 0, dataset: 'flowers', trainImages: 480, valImages: 200, testImages: 120,
      history: accs.map((a, i) => ({ epoch: i + 1, trainLoss: 1.5 / (i + 1), trainAccuracy: Math.min(1, a + 0.1), valLoss: 1.2 / (i + 1), valAccuracy: a, seconds: 10 })),
      finalValAccuracy: diverged ? 0.3 : ones(val), bestValAccuracy: Math.max(...accs), finalValLoss: 0.4, trainAccuracyInference: 0.9,
      ...(diverged ? { divergedAt: { epoch: 2, step: 3, loss: Number.POSITIVE_INFINITY } } : { testAccuracy: ones(test), testLoss: 0.5, perImage: { val, test } }),
      params: { total: head === 'gap' ? 416_613 : 467_813, trainable: 400_000, nonTrainable: 14_080, head: head === 'gap' ? 6_405 : 57_605 },
      stepTime: { coldMs: 3000, medianMs: (head === 'gap' ? 80 : 86) + seed, p90Ms: 95, samples: 20, imagesPerSecond: 380, samplesMs: Array.from({ length: 20 }, (_, i) => 80 + i + seed) },
      skippedFiles: 0, seconds: 15, finishedAt: '2026-11-27T00:00:00Z',
    };
  };
  return {
    schema: RESULTS_SCHEMA, schemaVersion: RESULTS_SCHEMA_VERSION, createdAt: '2026-11-27T00:00:00Z', updatedAt: '2026-11-27T00:00:00Z',
    environment: { node: 'v20', tfjsNode: '4.22.0', libtensorflow: '2.21.0', backend: 'tensorflow', accelerated: true, platform: 'linux-x64', cpu: 'test cpu', cores: 2, memoryGiB: 24, threads: { intraOp: 'default', interOp: 'default' }, hostname: 'h' },
    config: {}, skippedFiles: [], baseline: 'gap',
    rows: ['gap', 'flatten'].flatMap((h) => [0.1, 0.01].flatMap((lr) => seeds.map((s) => row(h, lr, s)))),
  };
}

const CHART_IDS = ['forest', 'accuracy', 'val-accuracy', 'train-accuracy', 'val-loss', 'train-loss', 'accuracy-vs-params', 'step-time'];

const CHROMIUM = process.env['HEADBENCH_CHROMIUM'] ?? '/usr/bin/chromium';

describe('report', () => {
  it('renders every chart to SVG, one series per head and lr, the forest plot first', () => {
    const charts = reportCharts(sampleResults());
    expect(charts.map((c) => c.id)).toEqual(CHART_IDS);
    expect(charts[0]!.series).toEqual(expect.arrayContaining(['worse']));
    expect(charts[2]!.series).toEqual(['gap · lr 0.1', 'gap · lr 0.01', 'flatten · lr 0.1', 'flatten · lr 0.01']);
    expect(charts[1]!.series).toEqual(['final val accuracy', 'test accuracy']);
    expect(charts.at(-1)!.series).toEqual(['p50', 'p99']);
    for (const c of charts) expect(c.svg.startsWith('<svg')).toBe(true);
    // With one seed there is no interval band: one path per line, no polygon.
    expect(reportCharts(sampleResults([1]))[2]!.title).not.toContain('band');
  });

  it('writes a self-contained page that leads with the verdicts, and a Markdown summary', () => {
    const html = renderHtml(sampleResults());
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(html.indexOf('id="verdicts"')).toBeLessThan(html.indexOf('data-chart="forest"'));
    expect(html.indexOf('data-chart="forest"')).toBeLessThan(html.indexOf('data-chart="accuracy"'));
    expect(html).toContain('diverged (epoch 2, step 3)');
    expect(html).toContain('the verdict is on the test split');
    const md = renderMarkdown(sampleResults());
    expect(md).toMatch(/\| mobilenetv2 \| gap +\| sgd +\| +0\.1 \| 1 2 3 \| 0\.\d{3} ± 0\.\d{3} \(3\)/);
    expect(md).toMatch(/\| mobilenetv2 \| sgd +\| +0\.01 \| flatten \| gap \| -\d+\.\d +\| \[-\d+\.\d, -\d+\.\d\] +\| worse/);
    const one = renderMarkdown(sampleResults([1]));
    expect(one).toMatch(/\| mobilenetv2 \| gap +\| sgd +\| +0\.1 \| +1 \| +416,613 \| +6,405 \|/);
    expect(one).toContain('One seed per combination: differences below the detectable size');
  });
  it('draws the charts in a real browser, each across the page', async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`the browser check needs Chromium at ${CHROMIUM}: apt-get install chromium (or set HEADBENCH_CHROMIUM)`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-report-'));
    const file = path.join(dir, 'report.html');
    fs.writeFileSync(file, renderHtml(sampleResults()));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
      await page.goto(pathToFileURL(file).href);
      const charts = await page.$$eval('figure.chart', (figures) =>
        figures.map((f) => {
          const svg = f.querySelector('svg');
          const box = svg?.getBoundingClientRect();
          return {
            id: f.getAttribute('data-chart'),
            series: JSON.parse(f.getAttribute('data-series') ?? '[]') as string[],
            width: box?.width ?? 0,
            paths: svg?.querySelectorAll('path').length ?? 0,
            text: svg?.textContent ?? '',
          };
        }),
      );
      expect(charts.map((c) => c.id)).toEqual(CHART_IDS);
      const body = await page.evaluate(() => (globalThis as unknown as { document: { body: { getBoundingClientRect(): { width: number } } } }).document.body.getBoundingClientRect().width);
      for (const c of charts) {
        // The page's width, not a fixed 720 px.
        expect(c.width).toBeGreaterThan(0.9 * body);
        expect(c.paths).toBeGreaterThan(5);
        // Every series name is drawn in the chart's legend.
        for (const name of c.series) expect(c.text).toContain(name);
      }
      expect(await page.locator('#summary tbody tr').count()).toBe(12);
      expect(await page.locator('#verdicts tbody tr').count()).toBe(2);
      // The verdict itself is the cell set in colour and bold, not a neighbour (it was the interval).
      const bold = await page.locator('#verdicts tr.verdict-worse td').evaluateAll((cells) =>
        cells.filter((td) => Number((globalThis as unknown as { getComputedStyle(e: unknown): { fontWeight: string } }).getComputedStyle(td).fontWeight) >= 700).map((td) => td.textContent),
      );
      const worseRows = await page.locator('#verdicts tr.verdict-worse').count();
      expect(worseRows).toBeGreaterThan(0);
      expect(bold).toEqual(Array<string>(worseRows).fill('worse'));
      expect(await page.locator('#best-lr tbody tr').count()).toBe(1);
      expect(await page.locator('#groups tbody tr').count()).toBe(4);
      // The forest plot's zero line and three intervals: drawn above the first chart.
      const forestTop = await page.locator('figure[data-chart="forest"]').boundingBox();
      const accuracyTop = await page.locator('figure[data-chart="accuracy"]').boundingBox();
      expect(forestTop!.y).toBeLessThan(accuracyTop!.y);
      await page.screenshot({ path: process.env['HEADBENCH_REPORT_SCREENSHOT'] ?? path.join(dir, 'report.png'), fullPage: true });
    } finally {
      await browser.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
