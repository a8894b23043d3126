import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { checkHistory, historyReport } from '@headbench/history';
import { generateNights, inMemory, threeSeeds } from '@headbench/history/testing';
import { historyCharts, renderHistoryHtml, renderHistoryMarkdown } from './history.js';

const CHROMIUM = process.env['HEADBENCH_CHROMIUM'] ?? '/usr/bin/chromium';

/** 40 nights generated from a real 3-seed run, with a 7-point drop of flatten from night 25 and a 1.35x step of gmp from night 30. */
function plantedReport() {
  const data = inMemory(generateNights(threeSeeds(), { nights: 40, drop: { head: 'flatten', from: 25, points: 7 }, slowdown: { head: 'gmp', from: 30, factor: 1.35 } }), 'epyc');
  return historyReport(data, checkHistory(data));
}

describe('history report', () => {
  const report = plantedReport();

  it('has, per cell, accuracy with its band over seeds and timings per testbed, the changes marked with their commit', () => {
    const charts = historyCharts(report);
    expect(charts.map((c) => c.id.replace(/-mobilenetv2.*-(gap|flatten|gmp)-.*$/, '-$1'))).toEqual(['accuracy-gap', 'timing-gap', 'accuracy-flatten', 'timing-flatten', 'accuracy-gmp', 'timing-gmp']);
    expect(charts[0]!.series).toEqual(['final val accuracy', 'final val accuracy 95% band over seeds', 'test accuracy', 'test accuracy 95% band over seeds']);
    expect(charts[1]!.series).toEqual(['median step', 'inference p50']);
    const drop = report.check.changes.find((c) => c.head === 'flatten' && c.metric === 'finalValAccuracy')!;
    const step = report.check.changes.find((c) => c.head === 'gmp' && c.metric === 'medianStepMs')!;
    expect(charts[2]!.svg).toContain(`final val accuracy: worse at ${drop.commit}`);
    expect(charts[5]!.svg).toContain(`median step ms: worse at ${step.commit}`);
    expect(charts[0]!.svg).not.toContain('worse at');
    const md = renderHistoryMarkdown(report);
    expect(md).toMatch(/^## headbench history\n\n40 nights, newest c040 \(2026-02-09\): \d change points, 0 new tonight \(0 worse\)\.\n\n\| direction/);
  });

  it('opens in a real browser: every chart across the page with its legend, the changes table, the flipped images', async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`the browser check needs Chromium at ${CHROMIUM}: apt-get install chromium (or set HEADBENCH_CHROMIUM)`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-history-report-'));
    const file = path.join(dir, 'history.html');
    fs.writeFileSync(file, renderHistoryHtml(report));
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
          return { series: JSON.parse(f.getAttribute('data-series') ?? '[]') as string[], width: svg?.getBoundingClientRect().width ?? 0, paths: svg?.querySelectorAll('path').length ?? 0, text: svg?.textContent ?? '' };
        }),
      );
      expect(charts).toHaveLength(6);
      const body = await page.evaluate(() => (globalThis as unknown as { document: { body: { getBoundingClientRect(): { width: number } } } }).document.body.getBoundingClientRect().width);
      for (const c of charts) {
        expect(c.width).toBeGreaterThan(0.9 * body);
        expect(c.paths).toBeGreaterThan(5);
        for (const name of c.series) expect(c.text).toContain(name);
      }
      expect(await page.locator('#changes tbody tr').count()).toBe(report.check.changes.length);
      expect(await page.locator('#changes tbody tr.change-worse').count()).toBe(report.check.changes.length);
      const flips = await page.locator('p.flips').allTextContents();
      expect(flips.some((t) => /^final val accuracy from night #2[456] \(c02[456]\): val images .* right before and wrong after: #\d+(, #\d+){10,}/.test(t))).toBe(true);
      await page.screenshot({ path: process.env['HEADBENCH_HISTORY_SCREENSHOT'] ?? path.join(dir, 'history.png'), fullPage: true });
    } finally {
      await browser.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
