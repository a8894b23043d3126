import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { renderHtml, reportCharts } from './html.js';
import { renderMarkdown } from './markdown.js';
import { RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, type ResultRow, type RunResults } from '@headbench/core';

/** A results file shaped like a small seed-preset run: two heads, two learning rates, one diverged. */
function sampleResults(): RunResults {
  const row = (head: string, lr: number, accs: number[], status: ResultRow['status'] = 'ok'): ResultRow => ({
    id: `mobilenetv2|${head}|lr=${lr}|seed=1`, backbone: 'mobilenetv2', head, lr, seed: 1, status, plugins: { backbone: 'mobilenetv2@0.1.0', head: `${head}@0.1.0` },
    inputSize: 96, classes: 5, batchSize: 32, epochs: accs.length, momentum: 0, dataset: 'flowers', trainImages: 600, valImages: 200,
    history: accs.map((a, i) => ({ epoch: i + 1, trainLoss: 1.5 / (i + 1), trainAccuracy: Math.min(1, a + 0.1), valLoss: 1.2 / (i + 1), valAccuracy: a, seconds: 10 })),
    finalValAccuracy: accs.at(-1) ?? null, bestValAccuracy: accs.length ? Math.max(...accs) : null, finalValLoss: 0.4, trainAccuracyInference: 0.9,
    params: { total: head === 'gap' ? 416_613 : 467_813, trainable: 400_000, nonTrainable: 14_080, head: head === 'gap' ? 6_405 : 57_605 },
    stepTime: { coldMs: 3000, medianMs: head === 'gap' ? 400 : 420, p90Ms: 450, samples: 20, imagesPerSecond: 80, samplesMs: Array.from({ length: 20 }, (_, i) => 400 + i) },
    skippedFiles: 0, seconds: 60, finishedAt: '2026-11-27T00:00:00Z',
    ...(status === 'diverged' ? { divergedAt: { epoch: 2, step: 3, loss: Number.POSITIVE_INFINITY } } : {}),
  });
  return {
    schema: RESULTS_SCHEMA, schemaVersion: RESULTS_SCHEMA_VERSION, createdAt: '2026-11-27T00:00:00Z', updatedAt: '2026-11-27T00:00:00Z',
    environment: { node: 'v20', tfjsNode: '4.22.0', libtensorflow: '2.21.0', backend: 'tensorflow', accelerated: true, platform: 'linux-x64', cpu: 'test cpu', cores: 2, memoryGiB: 24, threads: { intraOp: 'default', interOp: 'default' }, hostname: 'h' },
    config: {}, skippedFiles: [],
    rows: [row('gap', 0.1, [0.5, 0.7, 0.8]), row('flatten', 0.1, [0.3], 'diverged'), row('gap', 0.01, [0.6, 0.75, 0.85]), row('flatten', 0.01, [0.4, 0.6, 0.7])],
  };
}

const CHROMIUM = process.env['HEADBENCH_CHROMIUM'] ?? '/usr/bin/chromium';

describe('report', () => {
  it('renders every chart to SVG with one series per combination', () => {
    const charts = reportCharts(sampleResults());
    expect(charts.map((c) => c.id)).toEqual(['val-accuracy', 'train-accuracy', 'val-loss', 'train-loss', 'accuracy-vs-params', 'step-time']);
    expect(charts[0]!.series).toEqual(['gap · lr 0.1', 'flatten · lr 0.1', 'gap · lr 0.01', 'flatten · lr 0.01']);
    expect(charts[5]!.series).toEqual(['p50', 'p99']);
    for (const c of charts) expect(c.svg.startsWith('<svg')).toBe(true);
  });

  it('writes a self-contained page and a Markdown summary', () => {
    const html = renderHtml(sampleResults());
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(html).toContain('diverged (epoch 2, step 3)');
    const md = renderMarkdown(sampleResults());
    expect(md).toMatch(/\| mobilenetv2 \| gap +\| +0\.1 \| +1 \| +416,613 \| +6,405 \| +0\.8 \|/);
  });

  it('draws the charts in a real browser', async () => {
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
      expect(charts.map((c) => c.id)).toEqual(['val-accuracy', 'train-accuracy', 'val-loss', 'train-loss', 'accuracy-vs-params', 'step-time']);
      for (const c of charts) {
        expect(c.width).toBeGreaterThan(600);
        expect(c.paths).toBeGreaterThan(5);
        // Every series name is drawn in the chart's legend.
        for (const name of c.series) expect(c.text).toContain(name);
      }
      expect(await page.locator('#summary tbody tr').count()).toBe(4);
      await page.screenshot({ path: process.env['HEADBENCH_REPORT_SCREENSHOT'] ?? path.join(dir, 'report.png'), fullPage: true });
    } finally {
      await browser.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
