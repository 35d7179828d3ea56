import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMachine } from '../machine.js';
import { readAllResults } from './results-folder.js';
import { writeReports } from './report.js';

/**
 * The report as a reader sees it: headless Chromium (Debian's `chromium`, driven by playwright-core;
 * CI installs it with scripts/install-test-packages.sh) renders report.html of the committed mini
 * grid and demo seed runs, and the page is checked where a reader would notice: every chart drawn,
 * two charts side by side on a 1280 px page, no legend label on top of another, no title or legend
 * outside its chart. With MLAAN_SCREENSHOT_DIR set, the screenshots are written there
 * (benchmarks/demo/screenshots/ holds the ones last looked at).
 */
const CHROMIUM = '/usr/bin/chromium';
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
// Outside CI a machine without Chromium skips this; in CI its absence is a failure.
const skip = !existsSync(CHROMIUM) && !process.env.CI;

/** The flags that work on a machine without a network or a GPU (/work/.library/env notes). */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface FigureLayout {
  caption: string;
  svg: Box;
  texts: { text: string; box: Box; legend: boolean }[];
}

const overlap = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
const inside = (inner: Box, outer: Box) =>
  inner.x >= outer.x - 0.5 && inner.y >= outer.y - 0.5 && inner.x + inner.width <= outer.x + outer.width + 0.5 && inner.y + inner.height <= outer.y + outer.height + 0.5;

describe.skipIf(skip)('report.html in headless Chromium', () => {
  const folders = { mini: join(repoRoot, 'benchmarks/mini'), demo: join(repoRoot, 'benchmarks/demo/seeds') };
  let work = '';
  let browser: import('playwright-core').Browser;

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    work = await mkdtemp(join(tmpdir(), 'mlaan-bench-screenshot-'));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const [name, folder] of Object.entries(folders)) {
    it(`lays out the ${name} report’s charts for a reader`, async () => {
      const out = join(work, name);
      const results = await readAllResults(folder);
      expect(results.length).toBeGreaterThan(0);
      await writeReports(out, results, { command: `mlaan-bench report --out ${name}`, machine: describeMachine(), generatedAt: 'screenshot test' });
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      try {
        await page.goto(pathToFileURL(join(out, 'report.html')).href);
        // Nothing wider than the window: no sideways scrolling.
        expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
        const figures: FigureLayout[] = await page.$$eval('section:first-of-type figure', (elements) =>
          elements.map((figure) => {
            const box = (element: { getBoundingClientRect(): Box }) => {
              const r = element.getBoundingClientRect();
              return { x: r.x, y: r.y, width: r.width, height: r.height };
            };
            return {
              caption: figure.querySelector('figcaption')!.textContent!,
              svg: box(figure.querySelector('svg')!),
              texts: [...figure.querySelectorAll('svg text')]
                .filter((text) => text.textContent!.trim() !== '')
                .map((text) => ({ text: text.textContent!, box: box(text), legend: !!text.closest('.role-legend-label') })),
            };
          }),
        );
        expect(figures.map((figure) => figure.caption)).toEqual(expect.arrayContaining(['Test error vs K', 'Training step memory vs K', 'Test error per epoch', 'Learning rate per epoch', 'Training loss']));
        for (const figure of figures) {
          // Drawn, and narrow enough for two side by side in the page's 1200 px column.
          expect(figure.svg.width, figure.caption).toBeGreaterThan(300);
          expect(figure.svg.width, figure.caption).toBeLessThanOrEqual(592);
          for (const text of figure.texts) expect(inside(text.box, figure.svg), `${figure.caption}: “${text.text}” outside its chart`).toBe(true);
          const legend = figure.texts.filter((text) => text.legend);
          for (const [i, a] of legend.entries()) {
            for (const b of legend.slice(i + 1)) expect(overlap(a.box, b.box), `${figure.caption}: legend labels “${a.text}” and “${b.text}” overlap`).toBe(false);
          }
        }
        // Two charts to a row: the first two figures share a top edge.
        expect(figures[1]!.svg.y).toBe(figures[0]!.svg.y);
        const screenshots = process.env.MLAAN_SCREENSHOT_DIR;
        if (screenshots) {
          const target = resolve(repoRoot, screenshots, name);
          await mkdir(target, { recursive: true });
          await page.screenshot({ path: join(target, 'top.png') });
          for (const [index, element] of (await page.$$('section:first-of-type figure')).entries()) {
            await element.screenshot({ path: join(target, `figure-${String(index + 1).padStart(2, '0')}.png`) });
          }
        }
      } finally {
        await page.close();
      }
    }, 300_000);
  }
});
