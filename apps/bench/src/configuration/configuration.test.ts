import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BenchOptionError } from '../errors.js';
import { configId, stableStringify } from './configuration-id.js';
import { expandGrid } from './grid.js';
import type { RunConfig } from './settings.js';
import { methodLabel } from './labels.js';
import { resolveSettings } from './resolve-settings.js';
import { learningRateSchedule, warmupWarning } from './schedules.js';

describe('resolveSettings', () => {
  it('layers defaults, preset and options; options win', () => {
    const smoke = resolveSettings('smoke', {});
    expect(smoke.epochs).toBe(1);
    expect(smoke.trainLimit).toBe(1024);
    const overridden = resolveSettings('smoke', { epochs: 3, trainLimit: 256 });
    expect(overridden.epochs).toBe(3);
    expect(overridden.trainLimit).toBe(256);
    expect(overridden.frameworks).toEqual(smoke.frameworks);
  });

  it('takes METHOD §6 per dataset in the paper preset', () => {
    const cifar = resolveSettings('paper', {});
    expect([cifar.batchSize, cifar.learningRate, cifar.weightDecay, cifar.momentum, cifar.nesterov]).toEqual([1024, 0.8, 1e-4, 0.9, true]);
    expect(cifar.schedule).toBe('cosine-warmup');
    expect(cifar.warmupEpochs).toBe(10);
    const stl = resolveSettings('paper', { dataset: 'stl10', network: 'resnet110' });
    expect([stl.batchSize, stl.learningRate]).toEqual([128, 0.1]);
  });

  it('rejects K that the split tables do not have, naming the valid ones', () => {
    expect(() => resolveSettings(undefined, { frameworks: ['dgl'], Ks: [5] })).toThrow(/K=5 is not a split of resnet32\. Valid K for local frameworks: 2, 3, 4, 8, 16, per-block/);
    expect(() => resolveSettings(undefined, { frameworks: ['infopro'], Ks: [8], split: 'balanced', network: 'resnet110' })).toThrow(BenchOptionError);
    // E2E ignores K, so any K is fine with it alone.
    expect(() => resolveSettings(undefined, { frameworks: ['e2e'], Ks: [5] })).not.toThrow();
  });

  it('rejects networks that do not fit the dataset and bad numbers', () => {
    expect(() => resolveSettings(undefined, { dataset: 'imagenet' })).toThrow(/ImageNet needs an ImageNet network/);
    expect(() => resolveSettings(undefined, { momentum: 0, nesterov: true })).toThrow(/Nesterov momentum needs momentum > 0/);
    expect(() => resolveSettings(undefined, { epochs: 0 })).toThrow(/epochs must be a positive integer/);
    expect(() => resolveSettings(undefined, { learningRate: -1 })).toThrow(/learning rate must be a positive number/);
  });
});

describe('expandGrid', () => {
  const base = resolveSettings(undefined, { epochs: 1 });

  it('crosses frameworks, plugin sets, K and seeds; E2E runs once per seed, without local plugins', () => {
    const grid = expandGrid({ ...base, frameworks: ['e2e', 'dgl'], pluginSets: ['none', 'mlaan'], Ks: [2, 4], seeds: [0, 1] });
    const rows = grid.map((c) => `${methodLabel(c)} K=${c.K} s${c.seed}`);
    expect(rows).toEqual([
      'E2E K=1 s0',
      'E2E K=1 s1',
      'DGL K=2 s0',
      'DGL K=2 s1',
      'DGL K=4 s0',
      'DGL K=4 s1',
      'DGL+MLAAN K=2 s0',
      'DGL+MLAAN K=2 s1',
      'DGL+MLAAN K=4 s0',
      'DGL+MLAAN K=4 s1',
    ]);
  });

  it('uses each framework’s paper epochs when none are given (400; InfoPro 160)', () => {
    const paper = resolveSettings('paper', {});
    const epochs = Object.fromEntries(expandGrid({ ...paper, seeds: [0], Ks: [2] }).map((c) => [c.framework, c.epochs]));
    expect(epochs).toEqual({ e2e: 400, dgl: 400, infopro: 160 });
  });

  it('refuses a grid that is empty because local plugins were asked of E2E alone', () => {
    expect(() => expandGrid({ ...base, frameworks: ['e2e'], pluginSets: ['mlaan'] })).toThrow(/grid is empty/);
  });
});

describe('configId', () => {
  it('is stable under key order and changes with any setting', () => {
    const [config] = expandGrid(resolveSettings(undefined, { epochs: 1, trainLimit: 100 }));
    const reordered = Object.fromEntries(Object.entries(config!).reverse()) as typeof config;
    expect(configId(reordered!)).toBe(configId(config!));
    expect(configId({ ...config!, learningRate: 0.1 })).not.toBe(configId(config!));
    expect(configId({ ...config!, trainLimit: 101 })).not.toBe(configId(config!));
    expect(configId(config!)).toMatch(/^cifar10-resnet32-e2e-none-k1-s0-[0-9a-f]{8}$/);
    expect(stableStringify({ b: 1, a: [2, { d: null, c: 3 }] })).toBe('{"a":[2,{"c":3,"d":null}],"b":1}');
  });
});

describe('learningRateSchedule', () => {
  it('follows METHOD §6 cosine with warm-up, by hand', () => {
    const [config] = expandGrid(resolveSettings('paper', { frameworks: ['e2e'], seeds: [0] }));
    const schedule = learningRateSchedule(config!);
    // Epoch 1 (e = 1): 0.5 * 0.8 * (1 + cos(pi / 400)) * 0 / 10 + 0.01 * 10 / 10 = 0.01.
    expect(schedule(0)).toBeCloseTo(0.01, 12);
    // e = 11, past the warm-up: 0.5 * 0.8 * (1 + cos(11 pi / 400)).
    expect(schedule(10)).toBeCloseTo(0.4 * (1 + Math.cos((11 * Math.PI) / 400)), 12);
    const constant = learningRateSchedule({ ...config!, schedule: 'constant', learningRate: 0.05 });
    expect([constant(0), constant(99)]).toEqual([0.05, 0.05]);
  });
});

describe('the mini preset (issue 13: a CPU-sized protocol)', () => {
  const settings = resolveSettings('mini', {});

  it('is ResNet-32 on 10,000 CIFAR-10 training images and the full test set, 10 epochs of SGD Nesterov, batch 128, lr 0.1 cosine without warm-up', () => {
    expect([settings.network, settings.dataset, settings.trainLimit, settings.testLimit, settings.epochs]).toEqual(['resnet32', 'cifar10', 10_000, undefined, 10]);
    expect([settings.batchSize, settings.learningRate, settings.momentum, settings.nesterov, settings.weightDecay, settings.augment]).toEqual([128, 0.1, 0.9, true, 1e-4, true]);
    expect(settings.schedule).toBe('cosine-annealing');
    expect(settings.seeds).toEqual([0, 1]);
    const [config] = expandGrid(settings);
    // Per-epoch cosine from lr down, no epoch at lr 0 and none in warm-up.
    const rates = Array.from({ length: 10 }, (_, epoch) => learningRateSchedule(config!)(epoch));
    expect(rates[0]).toBe(0.1);
    expect(rates[5]).toBeCloseTo(0.05, 12);
    expect(rates[9]).toBeCloseTo(0.05 * (1 + Math.cos(0.9 * Math.PI)), 12);
    expect(Math.min(...rates)).toBeGreaterThan(0);
  });

  it('trains its rows seed by seed, DGL K=8 with and without MLAAN first', () => {
    const rows = expandGrid(settings).map((c) => `${methodLabel(c)} K=${c.K} s${c.seed}`);
    const seed0 = ['DGL K=8 s0', 'DGL+MLAAN K=8 s0', 'E2E K=1 s0', 'InfoPro K=4 s0', 'InfoPro+MLAAN K=4 s0', 'DGL+MLM K=8 s0', 'DGL+LAM K=8 s0'];
    expect(rows).toEqual([...seed0, ...seed0.map((row) => row.replace('s0', 's1'))]);
  });

  it('gives up its rows when the options name the grid', () => {
    const rows = expandGrid(resolveSettings('mini', { frameworks: ['dgl'], pluginSets: ['none'], Ks: [4] }));
    expect(rows.map((c) => `${methodLabel(c)} K=${c.K} s${c.seed}`)).toEqual(['DGL K=4 s0', 'DGL K=4 s1']);
  });
});

describe("the hosts' own options (registry entries)", () => {
  it("records each host's options under its framework's name in its configurations only, and names a non-default head in the row label", () => {
    const grid = expandGrid(resolveSettings(undefined, { frameworks: ['e2e', 'dgl', 'infopro'], pluginSets: ['none'], Ks: [4], frameworkOptions: { dgl: { head: 'mlaan' } }, epochs: 1 }));
    expect(grid.map((c) => [methodLabel(c), c.frameworkOptions ?? null])).toEqual([
      ['E2E', null],
      ['DGL[mlaan head]', { dgl: { head: 'mlaan' } }],
      ['InfoPro', { infopro: { task: 'contrast', auxHead: '1c2f' } }],
    ]);
    const defaultHead = expandGrid(resolveSettings(undefined, { frameworks: ['dgl'], Ks: [4], epochs: 1 }))[0]!;
    expect(methodLabel(defaultHead)).toBe('DGL');
    expect(configId(defaultHead)).not.toBe(configId({ ...defaultHead, frameworkOptions: { dgl: { head: 'linear' } } }));
  });

  it('layers preset and options per option, and refuses a value the host does not allow or an option of a host the grid lacks', () => {
    const imagenet = resolveSettings('paper-imagenet', { frameworkOptions: { infopro: { auxHead: '1c2f' } } });
    expect(imagenet.frameworkOptions).toEqual({ infopro: { task: 'cross-entropy', auxHead: '1c2f' } });
    expect(() => resolveSettings(undefined, { frameworks: ['dgl'], frameworkOptions: { dgl: { head: 'wide' as 'linear' } } })).toThrow(
      /Unknown DGL head 'wide'\. Use one of: 'mlp-sr', 'mlaan', 'linear'/,
    );
    expect(() => resolveSettings(undefined, { frameworks: ['e2e'], frameworkOptions: { dgl: { head: 'linear' } } })).toThrow(/--dgl-head applies to --framework dgl only/);
  });

  it('keeps the ids that configurations had before host options moved under the framework name (result format 2)', () => {
    // Spelled as format 2 did: flat fields, and InfoPro's task null in the other frameworks' configurations.
    const [e2e, dgl, infopro] = expandGrid(
      resolveSettings(undefined, { frameworks: ['e2e', 'dgl', 'infopro'], Ks: [4], epochs: 1, frameworkOptions: { dgl: { head: 'linear' }, infopro: { lambda: [5, 0.5, 0, 0] } } }),
    );
    const { frameworkOptions: _e, ...e2eFields } = e2e!;
    const { frameworkOptions: _d, ...dglFields } = dgl!;
    const { frameworkOptions: _i, ...infoproFields } = infopro!;
    const sha = (value: unknown) => createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, 8);
    expect(configId(e2e!).endsWith(sha({ ...e2eFields, infoproTask: null }))).toBe(true);
    expect(configId(dgl!).endsWith(sha({ ...dglFields, infoproTask: null, dglHead: 'linear' }))).toBe(true);
    expect(configId(infopro!).endsWith(sha({ ...infoproFields, infoproTask: 'contrast', infoproAuxHead: '1c2f', infoproLambda: [5, 0.5, 0, 0] }))).toBe(true);
  });
});

describe('warmupWarning', () => {
  const config = (schedule: RunConfig['schedule'], epochs: number, warmupEpochs: number) => ({ schedule, epochs, warmupEpochs, learningRate: 0.8 });
  const peak = (c: ReturnType<typeof config>) => {
    const [full] = expandGrid(resolveSettings(undefined, { schedule: c.schedule, epochs: c.epochs, warmupEpochs: c.warmupEpochs, learningRate: c.learningRate }));
    return Math.max(...Array.from({ length: c.epochs }, (_, e) => learningRateSchedule(full!)(e)));
  };

  it('warns when the run never leaves warm-up, naming the rate it reaches', () => {
    const c = config('cosine-warmup', 10, 10);
    // The warm-up ramp meets the cosine falling to 0 at e = 10; the highest is e = 5:
    // 0.4 (1 + cos(5 pi / 10)) 4 / 10 + 0.01 (11 - 5) / 10 = 0.166.
    expect(peak(c)).toBeCloseTo(0.166, 12);
    expect(warmupWarning(c, peak(c))).toMatch(/10 epoch\(s\) with 10 warm-up epochs: the run never leaves warm-up and its learning rate peaks at 0\.166, not 0\.8/);
  });

  it('warns for a one-epoch cosine (it trains at 0), and stays quiet for runs that reach their rate', () => {
    expect(warmupWarning(config('cosine', 1, 0), peak(config('cosine', 1, 0)))).toMatch(/peaks at 0\.00, not 0\.8/);
    for (const c of [config('cosine-warmup', 400, 10), config('cosine', 10, 0), config('cosine-annealing', 1, 0), config('constant', 1, 10)]) {
      expect(warmupWarning(c, peak(c))).toBeUndefined();
    }
  });
});
