import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalTrainer, ShapeError, TRAIN } from '@mlaan/core';
import type { LocalLearningPlugin } from '@mlaan/core';
import { nonZeroGradients, randomImageBatch, tensorsLeftBySteps, tinyResNet, useTestBackend } from '@mlaan/test-support';
import { binaryCrossEntropyWithLogits, infoPro, InfoProHead, l2Normalize, supervisedContrastiveLoss, UndefinedLambdaError } from './index.js';

beforeAll(async () => {
  await useTestBackend();
});

/** A ResNet with the CIFAR widths 16/32/64, one block per stage, 16x16 inputs, K = 3. */
const CUTS = [[1, 0], [2, 0]] as const;
const network = (seed = 0) => tinyResNet({ width: 16, inputSize: 16, seed });
const LAMBDA = [2, 0.5, 1, 1.5] as const;

const onlyModule = (index: number): LocalLearningPlugin => ({
  name: `only-module-${index}`,
  terms: (terms) => terms.filter((t) => t.span[1] === index),
});

const dispose = (batch: { inputs: tf.Tensor; labels: tf.Tensor }) => tf.dispose([batch.inputs, batch.labels]);

describe('heads', () => {
  it('module i gets λ_i-weighted BCE + task loss; names start with infopro.<module>.', () => {
    const backbone = network();
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [infoPro({ lambda: LAMBDA })] });
    const first = trainer.heads.get('0:independent') as InfoProHead;
    const second = trainer.heads.get('1:independent') as InfoProHead;
    expect(first.weights).toEqual({ reconstruction: 2, task: 0.5 });
    expect(second.weights).toEqual({ reconstruction: 1, task: 1.5 });
    expect(trainer.heads.get('2:independent')!.name).toBe('classifier');
    const names = second.namedParameters().map(([n]) => n);
    expect(names.every((n) => n.startsWith('infopro.1.decoder.decoder.') || n.startsWith('infopro.1.aux.head.'))).toBe(true);
    expect(names).toContain('infopro.1.decoder.decoder.0.weight');
    expect(names).toContain('infopro.1.aux.head.7.weight');
    expect(second.namedBuffers().map(([n]) => n)).toEqual([
      'infopro.1.decoder.decoder.1.running_mean',
      'infopro.1.decoder.decoder.1.running_var',
      'infopro.1.aux.head.1.running_mean',
      'infopro.1.aux.head.1.running_var',
    ]);

    // The loss against its definition, computed from the head's parts.
    const batch = randomImageBatch(6, 2, 3, 16);
    const context = { ...TRAIN, updateStatistics: false };
    const features = trainer.modules[0]!.apply(batch.inputs, context);
    const loss = first.loss(features, batch, context).dataSync()[0]!;
    const image = tf.add(tf.mul(batch.inputs, tf.tensor1d(batch.normalization!.std as number[])), tf.tensor1d(batch.normalization!.mean as number[]));
    const bce = binaryCrossEntropyWithLogits(first.decoder.logits(features, [16, 16], context), image).dataSync()[0]!;
    const task = supervisedContrastiveLoss(l2Normalize(first.aux.apply(features, context)), batch.labels).dataSync()[0]!;
    expect(loss).toBeCloseTo(2 * bce + 0.5 * task, 5);
    tf.dispose([features, image]);
    dispose(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it("the cascade role (InfoPro+MLAAN) gets a separate decoder + aux head with the module's λ", () => {
    const backbone = network();
    const cascade: LocalLearningPlugin = {
      name: 'cascade-terms',
      terms: (terms) => [...terms, { name: 'module1.cascade', span: [0, 1] as const, role: 'cascade' as const, weight: 1 }],
    };
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [infoPro({ lambda: LAMBDA, task: 'cross-entropy' }), cascade] });
    const independent = trainer.heads.get('1:independent') as InfoProHead;
    const cascaded = trainer.heads.get('1:cascade') as InfoProHead;
    expect(cascaded).not.toBe(independent);
    expect(cascaded.weights).toEqual(independent.weights);
    const names = cascaded.namedParameters().map(([n]) => n);
    expect(names).toContain('infopro.1.cascade.decoder.decoder.0.weight');
    expect(names).toContain('infopro.1.cascade.aux.head.7.weight');
    const independentVariables = new Set(independent.namedParameters().map(([, v]) => v));
    expect(cascaded.namedParameters().some(([, v]) => independentVariables.has(v))).toBe(false);
    // Cross-entropy task: the aux head ends in the number of classes.
    expect(Object.fromEntries(cascaded.namedParameters().map(([n, v]) => [n, v.shape]))['infopro.1.cascade.aux.head.7.weight']).toEqual([128, 10]);
    trainer.dispose();
    backbone.dispose();
  });

  it('without λ, the preset is looked up at trainer construction; an undefined setting is an error', () => {
    const backbone = network();
    expect(() => new LocalTrainer({ backbone, cuts: CUTS, plugins: [infoPro()] })).toThrow(UndefinedLambdaError);
    expect(() => new LocalTrainer({ backbone, cuts: CUTS, plugins: [infoPro()] })).toThrow(/no λ for cifar10, tiny-resnet, K=3/);
    backbone.dispose();
  });

  it('a trainer whose InfoPro head is refused (aux head 1c2f on a 4-channel module) leaves no tensors (issue 25)', () => {
    const backbone = tinyResNet({ width: 4, inputSize: 16 });
    const before = tf.memory().numTensors;
    expect(() => new LocalTrainer({ backbone, cuts: CUTS, plugins: [infoPro({ lambda: LAMBDA })] })).toThrow(/Aux head '1c2f' is defined for 16-, 32- or 64-channel/);
    expect(tf.memory().numTensors).toBe(before);
    backbone.dispose();
  });

  it('needs batch.normalization to restore the image', () => {
    const backbone = network();
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [infoPro({ lambda: LAMBDA })] });
    const batch = randomImageBatch(4, 1, 10, 16);
    expect(() => trainer.computeGradients({ inputs: batch.inputs, labels: batch.labels })).toThrow(ShapeError);
    expect(() => trainer.computeGradients({ inputs: batch.inputs, labels: batch.labels })).toThrow(/normalization \{ mean, std \}/);
    dispose(batch);
    trainer.dispose();
    backbone.dispose();
  });
});

describe('training', () => {
  it("a module's local loss reaches only that module and its decoder and aux head", () => {
    for (const task of ['contrast', 'cross-entropy'] as const) {
      for (const index of [0, 1, 2]) {
        const backbone = network(index);
        const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [infoPro({ lambda: [1, 1, 1, 1], task }), onlyModule(index)] });
        const batch = randomImageBatch(6, index + 3, 3, 16);
        const { gradients } = trainer.computeGradients(batch);
        const head = index === 2 ? ['fc.weight', 'fc.bias'] : trainer.heads.get(`${index}:independent`)!.namedParameters().map(([n]) => n);
        const expected = [...trainer.modules[index]!.namedParameters().map(([n]) => n), ...head].sort();
        expect([...gradients.keys()].sort(), `${task} module ${index}`).toEqual(expected);
        // Conv biases right before a training-mode BN have an exactly-zero gradient in theory (BN
        // removes the mean), so only rounding noise: leave them out of the non-zero check.
        const structurallyZero = (n: string) => n.endsWith('decoder.decoder.0.bias');
        expect(nonZeroGradients(gradients).filter((n) => !structurallyZero(n))).toEqual(expected.filter((n) => !structurallyZero(n)));
        for (const g of gradients.values()) g.dispose();
        dispose(batch);
        trainer.dispose();
        backbone.dispose();
      }
    }
  });

  it('leaks no tensors across steps', () => {
    const backbone = network();
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [infoPro({ lambda: LAMBDA })], optimizer: { momentum: 0.9 } });
    const batch = randomImageBatch(4, 1, 10, 16);
    expect(tensorsLeftBySteps(trainer, batch)).toBe(0);
    dispose(batch);
    trainer.dispose();
    backbone.dispose();
  });
});
