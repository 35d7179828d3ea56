import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm, LocalTrainer, LossTerm, MlaanError, TRAIN } from '@mlaan/core';
import { disposeBatch, linearHeadHost, randomBatch, tensorsLeftBySteps, tinyBackbone } from '@mlaan/test-support';
import {
  batchNorms,
  cascadeTerms,
  forwardsPerModule,
  mlm,
  MLM_PROFILES,
  MlmError,
  resolveMlmOptions,
} from './index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const defaults = (K: number): LossTerm[] =>
  Array.from({ length: K }, (_, i) => ({ name: `module${i}.independent`, span: [i, i] as const, role: 'independent' as const, weight: 1 }));

const table = (terms: LossTerm[]) => terms.map((t) => `${t.name} [${t.span[0]},${t.span[1]}] ${t.role} ${t.weight}`);

describe('cascadeTerms', () => {
  it('paper profile, K = 4: both losses everywhere, windows clipped at module 0, weighted last loss', () => {
    const terms = cascadeTerms(4, defaults(4), resolveMlmOptions());
    expect(table(terms)).toEqual([
      'module0.independent [0,0] independent 0.001',
      'module0.cascade [0,0] cascade 0.999',
      'module1.independent [1,1] independent 0.001',
      'module1.cascade [0,1] cascade 0.999',
      'module2.independent [2,2] independent 0.001',
      'module2.cascade [0,2] cascade 0.999',
      'module3.independent [3,3] independent 0.001',
      'module3.cascade [1,3] cascade 0.999',
    ]);
  });

  it('reference profile, K = 8: resnetMLAAN.py (no loss at module 0, kc = 2, last = cascade CE only)', () => {
    const terms = cascadeTerms(8, defaults(8), resolveMlmOptions({ profile: 'reference' }));
    const expected: string[] = [];
    for (let i = 1; i <= 6; i++) {
      expected.push(`module${i}.independent [${i},${i}] independent 0.001`, `module${i}.cascade [${i - 1},${i}] cascade 0.999`);
    }
    expected.push('module7.cascade [6,7] cascade 1');
    expect(table(terms)).toEqual(expected);
  });

  it('skip with a window of 3 starts at module 2 (the ImageNet code)', () => {
    const terms = cascadeTerms(5, defaults(5), resolveMlmOptions({ cascadeWindow: 3, shortWindows: 'skip', lastLoss: 'weighted' }));
    expect(terms.map((t) => t.name)).toEqual([
      'module2.independent',
      'module2.cascade',
      'module3.independent',
      'module3.cascade',
      'module4.independent',
      'module4.cascade',
    ]);
    expect(terms.find((t) => t.name === 'module2.cascade')!.span).toEqual([0, 2]);
  });

  it("scales the host's weights and keeps other plugins' terms", () => {
    const input: LossTerm[] = [
      { name: 'module0.independent', span: [0, 0], role: 'independent', weight: 2 },
      { name: 'extra', span: [0, 1], role: 'independent', weight: 0.5 },
      { name: 'module1.independent', span: [1, 1], role: 'independent', weight: 1 },
    ];
    const terms = cascadeTerms(2, input, resolveMlmOptions({ cascadeWindow: 2, wx: 0.25, wy: 0.75 }));
    expect(table(terms)).toEqual([
      'module0.independent [0,0] independent 0.5',
      'module0.cascade [0,0] cascade 0.75',
      'extra [0,1] independent 0.5',
      'module1.independent [1,1] independent 0.25',
      'module1.cascade [0,1] cascade 0.75',
    ]);
  });

  it('a window longer than the partition is a clear error', () => {
    expect(() => cascadeTerms(2, defaults(2), resolveMlmOptions({ cascadeWindow: 3 }))).toThrow(MlmError);
    expect(() => cascadeTerms(2, defaults(2), resolveMlmOptions({ cascadeWindow: 3 }))).toThrow(/cascadeWindow 3 is longer than the 2 local module/);
    const backbone = tinyBackbone();
    expect(() => new LocalTrainer({ backbone, cuts: [[1, 0]], plugins: [linearHeadHost(), mlm()] })).toThrow(MlaanError);
    expect(() => new LocalTrainer({ backbone, cuts: [[1, 0]], plugins: [linearHeadHost(), mlm()] })).toThrow(/clipWindowToModules: true/);
    backbone.dispose();
  });

  it('clipWindowToModules shortens the window to the partition: K = 2 with kc = 3 is kc = 2', () => {
    const clipped = cascadeTerms(2, defaults(2), resolveMlmOptions({ cascadeWindow: 3, clipWindowToModules: true }));
    expect(table(clipped)).toEqual(table(cascadeTerms(2, defaults(2), resolveMlmOptions({ cascadeWindow: 2 }))));
    // A window that fits is left as it is.
    const fits = cascadeTerms(4, defaults(4), resolveMlmOptions({ clipWindowToModules: true }));
    expect(table(fits)).toEqual(table(cascadeTerms(4, defaults(4), resolveMlmOptions())));
  });

  it('validates its options', () => {
    expect(() => mlm({ cascadeWindow: 0 })).toThrow(/cascadeWindow must be an integer >= 1/);
    expect(() => mlm({ cascadeWindow: 1.5 })).toThrow(MlmError);
    expect(() => mlm({ wx: -1 })).toThrow(/wx must be a finite number >= 0/);
    expect(() => mlm({ wy: Number.NaN })).toThrow(/wy/);
    expect(() => mlm({ profile: 'fast' as 'paper' })).toThrow(/unknown profile 'fast'/);
    expect(() => mlm({ lastLoss: 'sum' as 'weighted' })).toThrow(/lastLoss must be one of/);
    expect(() => mlm({ window: 2 } as never)).toThrow(/unknown option\(s\) 'window'/);
    expect(resolveMlmOptions({ profile: 'reference', cascadeWindow: 3 })).toEqual({ ...MLM_PROFILES.reference, cascadeWindow: 3, clipWindowToModules: false });
    expect(() => mlm({ clipWindowToModules: 'yes' as never })).toThrow(/clipWindowToModules must be true or false/);
  });
});

describe('mlm() in a trainer', () => {
  it('a cascade reaches every module of its window and nothing before it', () => {
    // tiny backbone, K = 4 (stem alone, then one block each); isolate each term by filtering.
    const cuts = [[0, 0], [1, 0], [1, 1]] as const;
    const probe = new LocalTrainer({ backbone: tinyBackbone(), cuts, plugins: [linearHeadHost(), mlm({ cascadeWindow: 2 })] });
    const names = probe.terms.map((t) => t.name);
    const moduleNames = probe.modules.map((m) => new Set(m.namedParameters().map(([n]) => n)));
    probe.dispose();
    const batch = randomBatch({ size: 4 });
    for (const termName of names) {
      const backbone = tinyBackbone();
      const only = { name: 'only', enforce: 'post' as const, terms: (ts: LossTerm[]) => ts.filter((t) => t.name === termName) };
      const trainer = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost(), mlm({ cascadeWindow: 2 }), only] });
      const term = trainer.terms[0]!;
      const { gradients } = trainer.computeGradients(batch);
      const nonZero = [...gradients].filter(([, g]) => tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]!) > 0).map(([n]) => n);
      const expected = new Set<string>();
      for (let m = term.span[0]; m <= term.span[1]; m++) for (const n of moduleNames[m]!) expected.add(n);
      const head = trainer.heads.get(`${term.span[1]}:${term.role}`)!;
      for (const [n] of head.namedParameters()) expected.add(n);
      expect(new Set(nonZero), termName).toEqual(expected);
      for (const g of gradients.values()) g.dispose();
      trainer.dispose();
      backbone.dispose();
    }
    disposeBatch(batch);
  });

  it('reference profile: running statistics advance as after the authors\' repeated forwards', () => {
    const backbone = tinyBackbone();
    const cuts = [[0, 0], [1, 0], [1, 1]] as const;
    const before = backbone.blocks.map((b) => batchNorms(b.layer).map((bn) => bn.momentum));
    const stemMomentum = batchNorms(backbone.stem.layer).map((bn) => bn.momentum);
    const trainer = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost(), mlm({ profile: 'reference' })] });
    // K = 4, kc = 2, skip: windows [0,1] [1,2] [2,3] -> forwards 2, 3, 3, 2 (stem: 1).
    expect(forwardsPerModule(4, trainer.terms)).toEqual([2, 3, 3, 2]);
    expect(batchNorms(backbone.stem.layer).map((bn) => bn.momentum)).toEqual(stemMomentum);
    const counts = [3, 3, 2];
    backbone.blocks.forEach((b, k) => {
      for (const bn of batchNorms(b.layer)) expect(bn.momentum).toBeCloseTo(1 - Math.pow(0.9, counts[k]!), 12);
    });
    // n updates with the same batch statistics equal one update with the raised momentum.
    const x = tf.randomNormal([4, 3, 3, 5], 0, 1, 'float32', 3);
    const repeated = new BatchNorm({ channels: 5 });
    const once = new BatchNorm({ channels: 5, momentum: 1 - Math.pow(0.9, 3) });
    for (let n = 0; n < 3; n++) repeated.apply(x, TRAIN).dispose();
    once.apply(x, TRAIN).dispose();
    for (const [a, b] of [[repeated.runningMean, once.runningMean], [repeated.runningVar, once.runningVar]] as const) {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
      expect(diff).toBeLessThan(1e-6);
    }
    x.dispose();
    repeated.dispose();
    once.dispose();
    trainer.dispose();
    expect(backbone.blocks.map((b) => batchNorms(b.layer).map((bn) => bn.momentum))).toEqual(before);
    backbone.dispose();
  });

  it('leaks no tensors across steps', () => {
    const backbone = tinyBackbone();
    const trainer = new LocalTrainer({ backbone, cuts: [[1, 0], [1, 1]], plugins: [linearHeadHost(), mlm({ cascadeWindow: 2 })] });
    const batch = randomBatch({ size: 4 });
    expect(tensorsLeftBySteps(trainer, batch)).toBe(0);
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });
});
