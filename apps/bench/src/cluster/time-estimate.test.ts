import { describe, expect, it } from 'vitest';
import { expandGrid } from '../configuration/grid.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import type { RunConfig } from '../configuration/settings.js';
import type { FoundRun } from '../results/results-folder.js';
import { result as finishedResult } from '../results/result.fixture.js';
import { parseSlurmTime, formatSlurmTime } from './slurm-time.js';
import { committedMeasurementFolders, estimateRow, imagesOf, measuredRuns } from './time-estimate.js';

/** A measured run: `wall` seconds in all, `evaluation` of them evaluating, over `epochs` epochs. */
function measuredRun(config: RunConfig, wall: number, evaluation: number, load: number, epochs = 2): FoundRun {
  const result = finishedResult(config, config.framework === 'e2e' ? 1 : Number(config.K), 10, 2 ** 20, 100);
  result.wallSeconds = wall;
  result.evalSeconds = evaluation;
  result.epochs = Array.from({ length: epochs }, (_, i) => ({ ...result.epochs[0]!, epoch: i + 1 }));
  result.machine = { ...result.machine, cores: 2, loadAverage: [load, load, load] };
  return { folder: '/measured', run: result.id, result };
}

const settings = (given: Parameters<typeof resolveSettings>[1]) => expandGrid(resolveSettings(undefined, { epochs: 2, trainLimit: 100, testLimit: 50, backend: 'cpu', ...given }));

describe('Slurm time limits', () => {
  it('reads and writes Slurm spellings', () => {
    expect(parseSlurmTime('90')).toBe(5400);
    expect(parseSlurmTime('1:30')).toBe(90);
    expect(parseSlurmTime('12:00:00')).toBe(43_200);
    expect(parseSlurmTime('2-00:00:00')).toBe(172_800);
    expect(parseSlurmTime('1-6')).toBe(108_000);
    expect(parseSlurmTime('soon')).toMatch(/Expected a Slurm time limit/);
    expect(parseSlurmTime('0')).toMatch(/longer than 0/);
    expect(formatSlurmTime(3661)).toBe('01:01:01');
    expect(formatSlurmTime(172_800 + 60)).toBe('2-00:01:00');
  });
});

describe('estimating how long a configuration trains', () => {
  const [dgl4] = settings({ frameworks: ['dgl'], Ks: [4] });

  it("scales the measured seconds per image (wall outside evaluation; evaluation) to the configuration's images and epochs", () => {
    // 2 epochs of 100 training and 50 test images: (13 - 3) s / 200 = 50 ms per training image, 3 s / 100 = 30 ms per test image.
    const measured = measuredRun(dgl4!, 13, 3, 1);
    // The paper's 400 epochs at another learning rate: the same method and K, not the same settings.
    const [paper] = expandGrid(resolveSettings(undefined, { frameworks: ['dgl'], Ks: [4], epochs: 400, learningRate: 0.1, backend: 'cpu' }));
    const estimate = estimateRow(paper!, [measured]);
    expect(estimate).toMatchObject({ match: 'same method and K', trainSecondsPerImage: 0.05, evalSecondsPerImage: 0.03 });
    // The full CIFAR-10: 50,000 training and 10,000 test images, 400 epochs.
    expect(imagesOf(paper!)).toEqual({ train: 50_000, test: 10_000 });
    expect('seconds' in estimate && estimate.seconds).toBeCloseTo(400 * (50_000 * 0.05 + 10_000 * 0.03), 6);
    expect(estimateRow(dgl4!, [measured])).toMatchObject({ match: 'same settings', seconds: 13 });
  });

  it('takes the closest configuration, and of equals the quietest measurement', () => {
    const [dgl8] = settings({ frameworks: ['dgl'], Ks: [8] });
    const [dgl2] = settings({ frameworks: ['dgl'], Ks: [2] });
    const [mlaan4] = settings({ frameworks: ['dgl'], pluginSets: ['mlaan'], Ks: [4] });
    const busy = measuredRun(dgl8!, 30, 2, 6);
    const quiet = measuredRun(dgl8!, 20, 2, 1);
    const far = measuredRun(dgl2!, 10, 2, 0);
    const plugins = measuredRun(mlaan4!, 50, 2, 0);
    expect(estimateRow(dgl8!, [busy, quiet, far, plugins])).toMatchObject({ match: 'same settings', source: quiet });
    // K=4 was not measured: K=2 and K=8 are equally near, and the quieter wins.
    expect(estimateRow(dgl4!, [busy, far, plugins])).toMatchObject({ match: 'nearest K', source: far });
  });

  it('says what is missing when nothing of that network, dataset, backend or method was measured', () => {
    const [e2e] = settings({ frameworks: ['e2e'] });
    expect(estimateRow(e2e!, [measuredRun(dgl4!, 13, 3, 1)])).toEqual({ config: e2e, missing: expect.stringMatching(/no finished run of E2E K=1 \(e2e with none\) on resnet32\/cifar10 was measured on cpu/) });
    const [gpu] = expandGrid(resolveSettings(undefined, { frameworks: ['dgl'], Ks: [4], backend: 'tensorflow-gpu' }));
    expect(estimateRow(gpu!, [measuredRun(dgl4!, 13, 3, 1)])).toEqual({ config: gpu, missing: 'no finished run of resnet32 on cifar10 was measured on the tensorflow-gpu backend (only on cpu)' });
  });

  it('finds the runs committed under benchmarks/ and estimates the mini grid from them alone', async () => {
    const folders = committedMeasurementFolders();
    expect(folders.map((folder) => folder.split('/').at(-1))).toEqual(expect.arrayContaining(['mini', 'smoke']));
    const measured = await measuredRuns(folders);
    const mini = expandGrid(resolveSettings('mini', { backend: 'onednn' }));
    for (const config of mini) expect(estimateRow(config, measured)).toMatchObject({ match: 'same settings' });
  });
});
