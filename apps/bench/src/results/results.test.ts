import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expandGrid } from '../configuration/grid.js';
import { methodLabel } from '../configuration/labels.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import { describeMachine } from '../machine.js';
import { result } from './result.fixture.js';
import { aggregate, statistic } from './aggregate.js';
import { writeReports } from './report.js';
import { formatStatistic, metricTable, runsToCsv, tableToMarkdown } from './tables.js';

const settings = resolveSettings(undefined, { frameworks: ['e2e', 'dgl'], pluginSets: ['none'], Ks: [2, 4], seeds: [0, 1], epochs: 1, batchSize: 1024 });
const grid = expandGrid(settings);
const numbers: Record<string, [number, number, number]> = {
  // method K seed: best error %, peak bytes, images/s
  'E2E 1 0': [10, 100 * 2 ** 20, 50],
  'E2E 1 1': [12, 100 * 2 ** 20, 52],
  'DGL 2 0': [20, 60 * 2 ** 20, 40],
  'DGL 2 1': [24, 62 * 2 ** 20, 40],
  'DGL 4 0': [30, 40 * 2 ** 20, 30],
  'DGL 4 1': [31, 40 * 2 ** 20, 30],
};
const runs = grid.map((config) => {
  const modules = config.framework === 'e2e' ? 1 : Number(config.K);
  const [error, bytes, speed] = numbers[`${methodLabel(config)} ${modules} ${config.seed}`]!;
  return result(config, modules, error, bytes, speed);
});

describe('statistic', () => {
  it('gives the mean and the sample standard deviation, by hand', () => {
    const s = statistic([20, 24]);
    expect(s.mean).toBe(22);
    expect(s.std).toBeCloseTo(Math.sqrt(8), 12); // ((2² + 2²) / (2 - 1)) ^ 0.5
    expect(statistic([5]).std).toBeNaN();
    expect(statistic([NaN, 3]).n).toBe(1);
    expect(formatStatistic(s, 2)).toBe('22.00 ± 2.83');
    expect(formatStatistic(statistic([5]), 1)).toBe('5.0');
  });
});

describe('aggregate and tables', () => {
  const [section] = aggregate(runs);

  it('puts methods in rows and K in columns, with the paper number where the setting matches', () => {
    expect(section!.columns).toEqual([1, 2, 4]);
    // The papers' protocol: 160 epochs or more on the full training set (1-epoch runs: see report-reading.test.ts).
    const [likeThePapers] = aggregate(runs.map((run) => ({ ...run, config: { ...run.config, epochs: 160 } })));
    const table = metricTable(likeThePapers!, 'bestError');
    expect(table.header).toEqual(['Method', 'K=1', 'K=2', 'K=4']);
    expect(table.rows).toEqual([
      ['E2E', '11.00 ± 1.41 (paper 7.37)', '–', '–'],
      ['DGL', '–', '22.00 ± 2.83 (paper 8.69)', '30.50 ± 0.71 (paper 11.48)'],
    ]);
    const markdown = tableToMarkdown(table);
    expect(markdown).toContain('| Method | K=1 | K=2 | K=4 |');
    expect(markdown).toContain('| DGL | – | 22.00 ± 2.83 (paper 8.69) | 30.50 ± 0.71 (paper 11.48) |');
  });

  it('reports memory in MiB and the published GPU memory only for its own setting (ResNet-110, batch 1024)', () => {
    const memory = metricTable(section!, 'memory');
    expect(memory.rows[1]).toEqual(['DGL', '–', '61 ± 1', '40 ± 0']);
    expect(memory.rows.flat().join(' ')).not.toContain('paper');
  });

  it('marks a pipelined run’s step memory as per worker, keeps it out of the E2E ratio, and shows no unmeasured 0', () => {
    const perWorker = (worker: number, stepPeakBytes: number) => ({ worker, modules: [worker * 2, worker * 2 + 2] as [number, number], stepPeakBytes, stateBytes: 2 ** 20, stepAllocationBytes: stepPeakBytes - 2 ** 20, sampledSteps: 1 });
    const pipelined = runs.map((run) =>
      run.method === 'DGL' && run.modules === 4
        ? { ...run, memory: { ...run.memory, step: { ...run.memory.step, stepPeakBytes: 30 * 2 ** 20, workers: { count: 2, stepPeakBytesSum: 50 * 2 ** 20, perWorker: [perWorker(0, 30 * 2 ** 20), perWorker(1, 20 * 2 ** 20)] } } } }
        : run.method === 'DGL' && run.modules === 2
          ? { ...run, memory: { ...run.memory, step: { ...run.memory.step, stepPeakBytes: 0, stateBytes: 0, stepAllocationBytes: 0, sampledSteps: 0 } } }
          : run,
    );
    const memory = metricTable(aggregate(pipelined)[0]!, 'memory');
    expect(memory.rows[1]).toEqual(['DGL', '–', '–', '30 ± 0 (per worker, largest of 2)']);
    expect(memory.notes.join(' ')).toContain('per worker, largest of W');
    expect(memory.notes.join(' ')).not.toMatch(/Against E2E.*DGL K=4/);
    const csv = runsToCsv(pipelined.filter((run) => run.method === 'DGL' && run.config.seed === 0)).trim().split('\n');
    const header = csv[0]!.split(',');
    const rows = csv.slice(1).map((line) => line.split(','));
    const cell = (row: string[], name: string) => row[header.indexOf(name)];
    const [k2, k4] = [rows.find((row) => cell(row, 'modules') === '2')!, rows.find((row) => cell(row, 'modules') === '4')!];
    expect([cell(k2, 'step_peak_bytes'), cell(k2, 'step_memory_workers')]).toEqual(['', '1']);
    expect([cell(k4, 'step_memory_workers'), cell(k4, 'step_peak_bytes_sum_over_workers')]).toEqual(['2', String(50 * 2 ** 20)]);
  });

  it('writes one CSV row per run, empty cells for NaN, quoted cells where needed', () => {
    const csv = runsToCsv([{ ...runs[0]!, method: 'E2E, "quoted"', testErrorPercent: { best: NaN, bestEpoch: 0, last: NaN } }]);
    const [header, row] = csv.trim().split('\n');
    expect(header!.split(',')).toContain('best_test_error_percent');
    const cells = row!.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.map((c) => c.replace(/,$/, ''));
    const column = (name: string) => cells[header!.split(',').indexOf(name)];
    expect(column('method')).toBe('"E2E, ""quoted"""');
    expect(column('best_test_error_percent')).toBe('');
    expect(column('images_per_second')).toBe('50');
  });
});

describe('writeReports', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes JSON, CSV, Markdown, SVG charts and one HTML page that holds them', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlaan-bench-report-'));
    const written = await writeReports(dir, runs, { command: 'mlaan-bench ablation --test', machine: describeMachine(), generatedAt: 'now' });
    const charts = (await readdir(join(dir, 'charts'))).sort();
    // Two DGL configurations (K=2, K=4) get a module-losses chart each; E2E has one loss term and none.
    expect(charts.map((name) => name.replace(/^cifar10-resnet32-[0-9a-f]{6}-/, ''))).toEqual([
      'error-vs-k.svg',
      'learning-rate.svg',
      'loss-curves.svg',
      'memory-vs-k.svg',
      'module-losses-1.svg',
      'module-losses-2.svg',
      'test-error-per-epoch.svg',
      'test-loss-per-epoch.svg',
    ]);
    const errorChart = await readFile(join(dir, 'charts', charts[0]!), 'utf8');
    expect(errorChart.startsWith('<svg')).toBe(true);
    // Axis titles and legend entries are text in the SVG.
    expect(errorChart).toContain('test error (%)');
    expect(errorChart).toContain('DGL');
    expect(errorChart).toContain('E2E');
    const json = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8'));
    expect(json.runs).toHaveLength(6);
    expect(json.summaries).toHaveLength(3);
    expect(json.command).toBe('mlaan-bench ablation --test');
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(html.match(/<svg/g)).toHaveLength(charts.length);
    // The page a researcher reads: per-epoch curves with seeds as a band, parameters split, hyperparameters, versions.
    const perEpoch = await readFile(join(dir, 'charts', charts.find((name) => name.endsWith('test-error-per-epoch.svg'))!), 'utf8');
    expect(perEpoch).toContain('± 1 std over seeds');
    expect(html).toContain('Parameters: backbone and auxiliary');
    expect(html).toContain('<td>800</td>');
    expect(html).toContain('Hyperparameters');
    expect(html).toContain('weightDecay');
    expect(html).toContain('Code and versions');
    expect(html).toContain('abc123');
    expect(html).toContain('<th>K=4</th>');
    expect(html).toContain('mlaan-bench ablation --test');
    const markdown = await readFile(join(dir, 'results.md'), 'utf8');
    expect(markdown).toBe(written.markdown);
    expect(markdown).toContain('### Training step memory (MiB)');
    expect((await readFile(join(dir, 'results.csv'), 'utf8')).trim().split('\n')).toHaveLength(7);
  });
});
