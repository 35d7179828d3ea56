import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expandGrid } from '../configuration/grid.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import type { RunConfig } from '../configuration/settings.js';
import { describeMachine } from '../machine.js';
import { aggregate } from './aggregate.js';
import { ERROR_AXIS_MINIMUM_SPAN, learningRateLines, sectionCharts, valueDomain } from './charts.js';
import { describeEffect, mainJobSummary, pluginEffects } from './comparison.js';
import { writeReports } from './report.js';
import type { RunResult } from './result-format.js';
import { result } from './result.fixture.js';
import { metricTable, publishedTable, sectionNote } from './tables.js';

/**
 * What a newcomer reads in the report (issue 27): paper numbers only beside runs trained like the
 * papers, an error axis that neither hides nor inflates a difference, E2E drawn and named one way,
 * module-loss charts that explain MLM's flat lines, and no line hidden behind another.
 */

/** Three epochs of a short protocol; `error(config)` gives each run's final test error. */
function shortGrid(seeds: number[], error: (config: RunConfig) => number, epochs = 3): RunResult[] {
  const settings = resolveSettings(undefined, {
    frameworks: ['e2e', 'dgl'],
    pluginSets: ['none', 'mlaan'],
    Ks: [8],
    seeds,
    epochs,
    trainLimit: 5120,
    testLimit: 2000,
    batchSize: 64,
    learningRate: 0.05,
    schedule: 'cosine-annealing',
    warmupEpochs: 0,
  });
  return expandGrid(settings).map((config) => {
    const modules = config.framework === 'e2e' ? 1 : 8;
    const run = result(config, modules, error(config), (config.framework === 'e2e' ? 177 : config.plugins === 'mlaan' ? 98 : 84) * 2 ** 20, config.plugins === 'mlaan' ? 100 : 250);
    const last = error(config);
    const moduleLosses =
      config.plugins === 'mlaan'
        ? Object.fromEntries(Array.from({ length: 8 }, (_, m) => [[`module${m}.independent`, 2.25], [`module${m}.cascade`, 1.4 - m / 100]]).flat())
        : Object.fromEntries(Array.from({ length: modules }, (_, m) => [`module${m}.independent`, 1.5]));
    const learningRates = [0.05, 0.0375, 0.0125].slice(0, epochs);
    return {
      ...run,
      testErrorPercent: { best: last, bestEpoch: epochs, last },
      epochs: learningRates.map((learningRate, index) => ({ ...run.epochs[0]!, epoch: index + 1, learningRate, moduleLosses, testErrorPercent: last + (epochs - 1 - index) * 5 })),
    };
  });
}

const byMethod = (config: RunConfig, seedOffset: number[]) =>
  (config.framework === 'e2e' ? 42 : config.plugins === 'mlaan' ? 52 : 60) + seedOffset[config.seed]!;
const threeSeeds = shortGrid([0, 1, 2], (config) => byMethod(config, [0, 0.5, -0.5]));

describe('paper numbers', () => {
  it('stay out of a short run’s cells and charts, listed apart as the papers’ protocol and not comparable', async () => {
    const [section] = aggregate(threeSeeds);
    const errors = metricTable(section!, 'bestError');
    expect(errors.rows.flat().join(' ')).not.toContain('paper');
    expect(errors.notes.join(' ')).not.toContain('Paper numbers');
    const published = publishedTable(section!)!;
    expect(published.title).toBe('Published test error (%): the papers’ protocol: 160–400 epochs on the full training set, not comparable with these runs');
    // E2E 7.37, DGL K=8 14.17 (InfoPro paper, Table 2); DGL+MLAAN has no published number here.
    expect(published.rows).toEqual([
      ['E2E', '7.37', '–'],
      ['DGL', '–', '14.17'],
    ]);
    expect(published.notes.join(' ')).toContain('These runs trained 3 epoch(s) on 5120 training images');
    const chart = (await sectionCharts(section!)).find((c) => c.file.endsWith('error-vs-k.svg'))!;
    expect(chart.svg).not.toContain('published');
  });

  it('stand beside a run of the papers’ protocol (160 epochs, the full training set)', async () => {
    const full = threeSeeds.map((run) => ({ ...run, config: { ...run.config, epochs: 160, trainLimit: null, testLimit: null } }));
    const [section] = aggregate(full);
    expect(metricTable(section!, 'bestError').rows[1]).toEqual(['DGL', '–', '60.00 ± 0.50 (paper 14.17)']);
    expect(publishedTable(section!)).toBeUndefined();
    const chart = (await sectionCharts(section!)).find((c) => c.file.endsWith('error-vs-k.svg'))!;
    expect(chart.svg).toContain('published (InfoPro paper, the same protocol)');
  });
});

describe('the test error vs K chart', () => {
  it('spans at least 10 points, so that 0.5 points is a twentieth of the axis; wider data keeps its own range', () => {
    // 60 and 60.5: 0.5 apart, padded by (10 - 0.5) / 2 + 5 % of 0.5 on each side.
    expect(valueDomain([60, 60.5], 10)).toEqual([55.225, 65.275]);
    const [low, high] = valueDomain([60, 60.5], ERROR_AXIS_MINIMUM_SPAN);
    expect(0.5 / (high - low)).toBeLessThanOrEqual(1 / 20);
    // 30 to 50: its own range plus 5 % each side, no more.
    expect(valueDomain([30, 50], 10)).toEqual([29, 51]);
    // Never below 0 nor above 100 %.
    expect(valueDomain([1, 2], 10)).toEqual([0, 10.1]);
    expect(valueDomain([99, 99.5], 10, 100)[1]).toBe(100);
  });

  it('draws E2E dashed across every K and shows the same dash in its legend entry', async () => {
    const [section] = aggregate(threeSeeds);
    const svg = (await sectionCharts(section!)).find((c) => c.file.endsWith('error-vs-k.svg'))!.svg;
    // The legend entry of each method is the symbol just before its label.
    const entries = [...svg.matchAll(/<path ([^>]*)\/><\/g><g class="mark-text role-legend-label"[^>]*><text[^>]*>([^<]*)<\/text>/g)].map((m) => [m[2], /stroke-dasharray="([^"]*)"/.exec(m[1]!)?.[1] ?? '']);
    expect(Object.fromEntries(entries)).toEqual({ E2E: '6,4', DGL: '', 'DGL+MLAAN': '' });
    // The plot draws that dash once more: E2E's line.
    expect(svg.match(/stroke-dasharray="6,4"/g)).toHaveLength(2);
    expect(svg).toContain('dashed: E2E (K=1), drawn across every K');
  });
});

describe('E2E is named one way', () => {
  it('is “E2E” in every chart, table and note, never “E2E K=1”', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mlaan-bench-reading-'));
    try {
      await writeReports(dir, threeSeeds, { command: 'mlaan-bench ablation --test', machine: describeMachine(), generatedAt: 'now' });
      const charts = await Promise.all((await readdir(join(dir, 'charts'))).map((file) => readFile(join(dir, 'charts', file), 'utf8')));
      const pages = [await readFile(join(dir, 'results.md'), 'utf8'), await readFile(join(dir, 'report.html'), 'utf8')];
      for (const page of pages) expect(page).toContain('E2E');
      // Every chart but the module losses (E2E has no local modules) and the one shared learning rate names E2E, all the same way.
      expect(charts.filter((text) => text.includes('E2E'))).toHaveLength(charts.length - 3);
      for (const text of [...charts, ...pages]) {
        expect(text).not.toMatch(/E2E K=1/);
        expect(text).not.toContain('no K');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('module-loss charts', () => {
  it('say why MLM’s independent losses stay near chance, and give every term its own colour and dash', async () => {
    const [section] = aggregate(threeSeeds);
    const charts = await sectionCharts(section!);
    const withMlaan = charts.find((c) => c.title === 'Module losses: DGL+MLAAN K=8')!.svg;
    expect(withMlaan).toContain('wx = 0.001');
    expect(withMlaan).toContain('wy = 0.999');
    expect(withMlaan).toContain('near chance (ln 10 = 2.30)');
    expect(charts.find((c) => c.title === 'Module losses: DGL K=8')!.svg).not.toContain('wx =');
    // Two legends: eight module colours, all different, and two dashes (independent solid, cascade dashed).
    const symbols = [...withMlaan.matchAll(/role-legend-symbol[^>]*><path ([^>]*)\/>/g)].map((m) => m[1]!);
    const colours = symbols.map((attributes) => /stroke="([^"]+)"/.exec(attributes)?.[1]).filter((c) => c !== '#444');
    expect(colours).toHaveLength(8);
    expect(new Set(colours).size).toBe(8);
    expect(symbols.map((attributes) => /stroke-dasharray="([^"]*)"/.exec(attributes)?.[1]).filter((d) => d !== undefined)).toEqual(expect.arrayContaining(['', '6,3']));
    expect(withMlaan).toContain('>independent<');
    expect(withMlaan).toContain('>cascade<');
  });
});

describe('one seed and shared schedules', () => {
  it('calls one seed one run, not a mean', () => {
    const [single] = aggregate(shortGrid([0], (config) => byMethod(config, [0])));
    expect(sectionNote(single!)).toBe('Each cell: one run (seed 0); with one seed the tables cannot say how much of a difference is noise. Epochs: E2E 3, DGL 3, DGL+MLAAN 3.');
    expect(sectionNote(aggregate(threeSeeds)[0]!)).toContain('Each cell: mean ± sample standard deviation over seeds 0, 1, 2.');
  });

  it('draws one learning-rate line for configurations that trained at the same rates', async () => {
    const [section] = aggregate(threeSeeds);
    const lines = learningRateLines(section!);
    expect([...new Set(lines.map((p) => p.configuration))]).toEqual(['all 3 configurations']);
    expect(lines.map((p) => p.value)).toEqual([0.05, 0.0375, 0.0125]);
    const svg = (await sectionCharts(section!)).find((c) => c.file.endsWith('learning-rate.svg'))!.svg;
    expect(svg).toContain('every configuration trained at these rates: one line');
    // Runs with another schedule (here: 2 epochs) get a line of their own, named.
    const mixed = [...threeSeeds.filter((run) => run.config.framework !== 'e2e'), ...shortGrid([0], (config) => byMethod(config, [0]), 2).filter((run) => run.config.framework === 'e2e')];
    const [mixedSection] = aggregate(mixed.map((run) => ({ ...run, config: { ...run.config } })));
    expect([...new Set(learningRateLines(mixedSection!).map((p) => p.configuration))].sort()).toEqual(['DGL K=8, DGL+MLAAN K=8', 'E2E']);
  });
});

describe('what the plugins change', () => {
  it('compares host and host + MLAAN over seeds: difference, standard error, verdict, by hand', () => {
    const [section] = aggregate(threeSeeds);
    const [effect] = pluginEffects(section!);
    // Host 60.5, 61, 59.5 (last epoch = best + 0 here); MLAAN 52, 52.5, 51.5.
    expect(effect!.hostError.mean).toBeCloseTo(60, 12);
    expect(effect!.withPluginsError.mean).toBeCloseTo(52, 12);
    expect(effect!.difference).toBeCloseTo(-8, 12);
    // s = 0.5 on both sides: √(0.25/3 + 0.25/3) = 0.408.
    expect(effect!.standardError).toBeCloseTo(Math.sqrt(0.5 / 3), 12);
    expect(effect!.beyondSpread).toBe(true);
    expect(describeEffect(effect!)).toBe(
      'MLAAN on DGL K=8: test error 8.00 points lower (52.00 ± 0.50 % against 60.00 ± 0.50 %, seeds 0, 1, 2 / 0, 1, 2; 19.6 standard errors of the difference; every MLAAN seed below every host seed: beyond the seeds’ spread).',
    );
  });

  it('says “within the seeds’ spread” when seeds overlap, and “no spread measured” with one seed', () => {
    const overlapping = shortGrid([0, 1, 2], (config) => (config.plugins === 'mlaan' ? [59, 61, 60] : [60, 62, 58])[config.seed]!);
    const [effect] = pluginEffects(aggregate(overlapping)[0]!);
    expect(effect!.beyondSpread).toBe(false);
    expect(describeEffect(effect!)).toContain('the seeds overlap: within the seeds’ spread');
    const [single] = pluginEffects(aggregate(shortGrid([0], (config) => byMethod(config, [0])))[0]!);
    expect(single!.standardError).toBeNaN();
    expect(describeEffect(single!)).toContain('no spread measured');
  });
});

describe('the main job’s summary', () => {
  const fresh = shortGrid([0], (config) => byMethod(config, [0.25]));

  it('prints the configurations side by side, then the difference here and the spread the committed seeds measured', () => {
    const lines = mainJobSummary(fresh, threeSeeds, 'benchmarks/demo/');
    expect(lines[0]).toBe('Side by side (this run, seed 0; test error of the last epoch on 50 test images):');
    expect(lines.slice(2, 6)).toEqual([
      '  Configuration   Test error %   Step memory MiB   Images/s',
      '  E2E                    42.25               177      250.0',
      '  DGL K=8                60.25                84      250.0',
      '  DGL+MLAAN K=8          52.25                98      100.0',
    ]);
    expect(lines).toContain("MLAAN on DGL K=8: 52.25 % against 60.25 % test error in this run, 8.00 points lower, at 1.17x the host’s step memory and 0.40x its speed.");
    expect(lines.at(-1)).toMatch(/^How sure: when this protocol was chosen \(benchmarks\/demo\/\), MLAAN on DGL K=8: test error 8.00 points lower .* beyond the seeds’ spread\)\.$/);
  });

  it('says so when the committed seeds are of another protocol', () => {
    const otherProtocol = threeSeeds.map((run) => ({ ...run, config: { ...run.config, trainLimit: 2560 } }));
    expect(mainJobSummary(fresh, otherProtocol, 'benchmarks/demo/').at(-1)).toBe(
      'How sure: benchmarks/demo/ has no seed runs of this protocol (other options than the preset’s?), so this run alone cannot tell the difference from noise.',
    );
  });
});
