import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { addonUnavailableReason, expectMatchesCpu, input, setUpBackends, suiteTitle } from '../test-support.js';

const reductions: Array<[string, (x: tf.Tensor, axis: number[] | null, keepDims: boolean) => tf.Tensor]> = [
  ['Sum', (x, axis, keepDims) => tf.sum(x, axis ?? undefined, keepDims)],
  ['Mean', (x, axis, keepDims) => tf.mean(x, axis ?? undefined, keepDims)],
  ['Max', (x, axis, keepDims) => tf.max(x, axis ?? undefined, keepDims)],
  ['Min', (x, axis, keepDims) => tf.min(x, axis ?? undefined, keepDims)],
  ['Prod', (x, axis, keepDims) => tf.prod(x, axis ?? undefined, keepDims)],
];

const axisCases: Array<[string, number[], number[] | null, boolean]> = [
  ['NHWC per-channel statistics (axes 0,1,2)', [4, 7, 5, 6], [0, 1, 2], false],
  ['per-channel statistics kept as [1,1,1,C]', [4, 7, 5, 6], [0, 1, 2], true],
  ['global average pooling (axes 1,2)', [4, 7, 5, 6], [1, 2], false],
  ['last axis', [4, 7, 5, 6], [3], true],
  ['all axes', [3, 5, 4], null, false],
  ['leading axis of a matrix (bias gradient)', [128, 10], [0], false],
  ['large leading reduction', [64, 16, 16, 16], [0, 1, 2], false],
  ['ResNet-32 head: global average over [1,2] of [128,8,8,64]', [128, 8, 8, 64], [1, 2], false],
  ['middle axes of a batch of 2 (threads split the reduced axis)', [2, 64, 64, 16], [1, 2], true],
  ['non-adjacent axes (oneDNN reduction primitive)', [3, 4, 5, 6], [0, 2], false],
];

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('onednn reduction and normalisation kernels match the cpu backend'), () => {
  beforeAll(setUpBackends);

  for (const [kernel, op] of reductions) {
    for (const [index, [description, shape, axis, keepDims]] of axisCases.entries()) {
      // Products of many values under/overflow; keep them to small tensors near 1.
      if (kernel === 'Prod' && shape.reduce((a, b) => a * b, 1) > 1000) continue;
      it(`${kernel}: ${description}`, async () => {
        const [low, high] = kernel === 'Prod' ? [0.9, 1.1] : [-2, 2];
        const { counts } = await expectMatchesCpu([input(shape, 17 + index, low, high)], (x) => op(x!, axis, keepDims));
        expect(counts.native[kernel]).toBe(1);
      });
    }
  }

  it('moments (mean and variance over N, H, W) and their gradients', async () => {
    const { counts } = await expectMatchesCpu([input([8, 6, 6, 16], 5)], (x) => {
      const { mean, variance } = tf.moments(x!, [0, 1, 2]);
      const gradient = tf.grad((a: tf.Tensor) => tf.sum(tf.moments(a, [0, 1, 2]).variance))(x!);
      return [mean, variance, gradient];
    });
    expect(counts.native.Mean).toBeGreaterThanOrEqual(2);
    expect(counts.native.Sub).toBeGreaterThanOrEqual(1);
    expect(counts.native.Square).toBeGreaterThanOrEqual(1);
    expect(counts.fallback).toEqual({});
  });

  it('Softmax over the last axis', async () => {
    const { counts } = await expectMatchesCpu([input([16, 10], 3, -5, 5)], (x) => tf.softmax(x!));
    expect(counts.native.Softmax).toBe(1);
  });

  it('softmax cross-entropy loss and its gradient', async () => {
    const labels = new Float32Array(16 * 10);
    for (let row = 0; row < 16; ++row) labels[row * 10 + ((row * 7) % 10)] = 1;
    await expectMatchesCpu([input([16, 10], 4, -3, 3), { shape: [16, 10], values: labels }], (logits, onehot) => {
      const loss = tf.losses.softmaxCrossEntropy(onehot!, logits!);
      const gradient = tf.grad((a: tf.Tensor) => tf.losses.softmaxCrossEntropy(onehot!, a))(logits!);
      return [loss, gradient];
    });
  });

  it('FusedBatchNorm (tf.batchNorm) with per-channel statistics, scale and offset', async () => {
    const { counts } = await expectMatchesCpu(
      [input([3, 5, 5, 8], 1), input([8], 2), input([8], 3, 0.5, 2), input([8], 4), input([8], 5, 0.5, 1.5)],
      (x, mean, variance, offset, scale) => tf.batchNorm(x!, mean!, variance!, offset, scale, 1e-5),
    );
    expect(counts.native.FusedBatchNorm).toBe(1);
  });

  it('FusedBatchNorm without scale or offset', async () => {
    const { counts } = await expectMatchesCpu([input([4, 8], 6), input([8], 7), input([8], 8, 0.5, 2)], (x, mean, variance) =>
      tf.batchNorm(x!, mean!, variance!),
    );
    expect(counts.native.FusedBatchNorm).toBe(1);
  });

  it('FusedBatchNorm gradient (composed of native ops)', async () => {
    await expectMatchesCpu(
      [input([3, 4, 4, 6], 9), input([6], 10), input([6], 11, 0.5, 2), input([6], 12), input([6], 13), input([3, 4, 4, 6], 14)],
      (x, mean, variance, offset, scale, upstream) =>
        tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.sum(tf.mul(tf.batchNorm(a, mean!, variance!, o, s, 1e-3), upstream!)))([
          x!,
          scale!,
          offset!,
        ]),
    );
  });
});
