import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, EVAL, getSplit, LocalTrainer, MlaanError, TRAIN, UnknownSplitError } from '@mlaan/core';
import type { LocalLearningPlugin } from '@mlaan/core';
import { nonZeroGradients, randomImageBatch, tensorsLeftBySteps, tinyResNet, useTestBackend } from '@mlaan/test-support';
import { AdaptiveAveragePool, adaptivePoolMatrix, dgl, DglConfigError, DGL_HEADS } from './index.js';

beforeAll(async () => {
  await useTestBackend();
});

/** A narrow ResNet in K = 3 modules: {stem, layer1.0}, {layer2.0}, {layer3.0}. */
const CUTS = [[1, 0], [2, 0]] as const;

const onlyModule = (index: number): LocalLearningPlugin => ({
  name: `only-module-${index}`,
  terms: (terms) => terms.filter((t) => t.span[1] === index),
});

describe('options', () => {
  it('rejects unknown heads, bad mlpLayers and unknown options with DglConfigError', () => {
    expect(() => dgl({ head: 'mlp' as never })).toThrow(DglConfigError);
    expect(() => dgl({ head: 'mlp' as never })).toThrow(/head must be one of 'mlp-sr', 'mlaan', 'linear'; got "mlp"/);
    expect(() => dgl({ mlpLayers: -1 })).toThrow(/mlpLayers must be an integer >= 0/);
    expect(() => dgl({ mlpLayers: 1.5 })).toThrow(DglConfigError);
    expect(() => dgl({ heads: 'linear' } as never)).toThrow(/dgl\(\): unknown option\(s\) 'heads' \('heads': did you mean 'head'\?\)\. Known options: head, mlpLayers, seed/);
    const error = (() => {
      try {
        dgl({ head: 'nope' as never });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toBeInstanceOf(MlaanError);
  });

  it('a K the network cannot be split into is a clear MlaanError', () => {
    expect(() => getSplit({ net: 'resnet32', K: 5 })).toThrow(UnknownSplitError);
    expect(() => getSplit({ net: 'resnet32', K: 5 })).toThrow(/Valid K for resnet32: 1, 2, 3, 4, 8, 16/);
  });
});

describe('heads', () => {
  it('adaptive pooling follows PyTorch windows for sizes that do not divide', () => {
    // 5 -> 2: windows [0, 3) and [2, 5).
    expect(Array.from(adaptivePoolMatrix(5, 2))).toEqual([1 / 3, 1 / 3, 1 / 3, 0, 0, 0, 0, 1 / 3, 1 / 3, 1 / 3].map(Math.fround));
    const x = tf.tensor4d(Array.from({ length: 25 }, (_, i) => i), [1, 5, 5, 1]);
    const y = new AdaptiveAveragePool(2).apply(x);
    // cell (0,1): rows 0-2, cols 2-4 -> mean of {2,3,4,7,8,9,12,13,14} = 8
    expect(Array.from(y.dataSync())).toEqual([6, 8, 16, 18].map((v) => expect.closeTo(v, 5)));
    tf.dispose([x, y]);
  });

  it('every head maps module outputs to class logits; names are dgl.<module>.<role>.<inner>', () => {
    for (const head of Object.keys(DGL_HEADS) as (keyof typeof DGL_HEADS)[]) {
      const backbone = tinyResNet({ width: 8 });
      const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [dgl({ head })] });
      const batch = randomImageBatch(2);
      const modules = trainer.modules;
      let h: tf.Tensor = batch.inputs;
      for (let i = 0; i < 2; i++) {
        const next = modules[i]!.apply(h, EVAL);
        if (h !== batch.inputs) h.dispose();
        h = next;
        const classifier = trainer.heads.get(`${i}:independent`) as import('./heads.js').ClassificationHead;
        const logits = classifier.logits(h, TRAIN);
        expect(logits.shape).toEqual([2, 10]);
        logits.dispose();
        const names = classifier.namedParameters().map(([n]) => n);
        expect(names.every((n) => n.startsWith(`dgl.${i}.independent.`))).toBe(true);
      }
      h.dispose();
      if (head === 'linear') {
        expect(trainer.heads.get('0:independent')!.namedParameters().map(([n]) => n)).toEqual([
          'dgl.0.independent.fc.weight',
          'dgl.0.independent.fc.bias',
        ]);
      }
      if (head === 'mlp-sr') {
        const shapes = Object.fromEntries(trainer.heads.get('1:independent')!.namedParameters().map(([n, v]) => [n, v.shape]));
        // module 1 ends at 16x16x16: pool to 4x4 -> 3 conv1x1 -> pool to 2x2 -> 64 -> 3 x Linear(64) -> 10
        expect(shapes['dgl.1.independent.blocks.0.0.weight']).toEqual([1, 1, 16, 16]);
        expect(shapes['dgl.1.independent.blocks.2.1.weight']).toEqual([16]);
        expect(shapes['dgl.1.independent.classifier.0.weight']).toEqual([64, 64]);
        expect(shapes['dgl.1.independent.classifier.7.weight']).toEqual([64]);
        expect(shapes['dgl.1.independent.classifier.9.weight']).toEqual([64, 10]);
      }
      if (head === 'mlaan') {
        const shapes = Object.fromEntries(trainer.heads.get('0:independent')!.namedParameters().map(([n, v]) => [n, v.shape]));
        expect(shapes['dgl.0.independent.features.0.weight']).toEqual([1, 1, 8, 128]);
        expect(shapes['dgl.0.independent.features.6.weight']).toEqual([1, 1, 128, 128]);
        expect(shapes['dgl.0.independent.classifier.6.weight']).toEqual([512, 512]);
        expect(shapes['dgl.0.independent.classifier.9.weight']).toEqual([512, 10]);
      }
      trainer.dispose();
      backbone.dispose();
      tf.dispose([batch.inputs, batch.labels]);
    }
  });

  it('the last module uses the backbone classifier; cascade heads are new heads with their own variables', () => {
    const backbone = tinyResNet();
    const cascade: LocalLearningPlugin = {
      name: 'cascade-terms',
      terms: (terms) => [
        ...terms,
        ...[1, 2].map((end) => ({ name: `module${end}.cascade`, span: [end - 1, end] as const, role: 'cascade' as const, weight: 1 })),
      ],
    };
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [dgl({ head: 'linear' }), cascade] });
    expect(trainer.heads.get('2:independent')!.name).toBe('classifier');
    expect(trainer.heads.get('2:cascade')!.name).toBe('classifier');
    const independent = trainer.heads.get('1:independent')!;
    const cascaded = trainer.heads.get('1:cascade')!;
    expect(cascaded).not.toBe(independent);
    expect(cascaded.namedParameters().map(([n]) => n)).toEqual(['dgl.1.cascade.fc.weight', 'dgl.1.cascade.fc.bias']);
    const independentVariables = new Set(independent.namedParameters().map(([, v]) => v));
    expect(cascaded.namedParameters().some(([, v]) => independentVariables.has(v))).toBe(false);
    trainer.dispose();
    backbone.dispose();
  });
});

describe('training', () => {
  it("a module's local loss reaches only that module and its head (every module, every head type)", () => {
    for (const head of Object.keys(DGL_HEADS) as (keyof typeof DGL_HEADS)[]) {
      for (const index of [0, 1, 2]) {
        const backbone = tinyResNet({ seed: index, inputSize: 16 });
        const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [dgl({ head }), onlyModule(index)] });
        const batch = randomImageBatch(4, index + 1, 10, 16);
        const { gradients } = trainer.computeGradients(batch);
        const ownHead = index === 2 ? ['fc.weight', 'fc.bias'] : trainer.heads.get(`${index}:independent`)!.namedParameters().map(([n]) => n);
        const expected = [...trainer.modules[index]!.namedParameters().map(([n]) => n), ...ownHead].sort();
        expect(nonZeroGradients(gradients)).toEqual(expected);
        expect([...gradients.keys()].sort()).toEqual(expected);
        for (const g of gradients.values()) g.dispose();
        trainer.dispose();
        backbone.dispose();
        tf.dispose([batch.inputs, batch.labels]);
      }
    }
  });

  it('sequential mode (original DGL) takes the same step as simultaneous mode for SGD', () => {
    const parameters = (mode: 'sequential' | 'simultaneous') => {
      const backbone = tinyResNet({ seed: 3, inputSize: 16 });
      const trainer = new LocalTrainer({
        backbone,
        cuts: CUTS,
        plugins: [dgl({ head: 'mlp-sr', seed: 5 })],
        mode,
        optimizer: { learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 },
      });
      const batch = randomImageBatch(4, 9, 10, 16);
      trainer.step(batch).dispose();
      trainer.step(batch).dispose();
      const values = new Map(trainer.namedParameters().map(([n, v]) => [n, Float32Array.from(v.dataSync() as Float32Array)]));
      trainer.dispose();
      backbone.dispose();
      tf.dispose([batch.inputs, batch.labels]);
      return values;
    };
    const sequential = parameters('sequential');
    const simultaneous = parameters('simultaneous');
    expect([...sequential.keys()]).toEqual([...simultaneous.keys()]);
    for (const [name, values] of sequential) {
      const other = simultaneous.get(name)!;
      let diff = 0;
      for (let i = 0; i < values.length; i++) diff = Math.max(diff, Math.abs(values[i]! - other[i]!));
      expect(diff, name).toBeLessThan(1e-5);
    }
  });

  it('leaks no tensors across steps, in both modes', () => {
    for (const mode of ['simultaneous', 'sequential'] as const) {
      const backbone = tinyResNet({ inputSize: 16 });
      const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [dgl({ head: 'mlp-sr' })], mode, optimizer: { momentum: 0.9 } });
      const batch = randomImageBatch(4, 1, 10, 16);
      expect(tensorsLeftBySteps(trainer, batch)).toBe(0);
      trainer.dispose();
      backbone.dispose();
      tf.dispose([batch.inputs, batch.labels]);
    }
  });
});
