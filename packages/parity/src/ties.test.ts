import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BatchNorm, ReLU, TRAIN, type RawTensor } from '@mlaan/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Fixture } from './fixture.js';
import type { ParityRunner } from './runner.js';
import { runWithDecisions, searchTieDecisions } from './ties.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/**
 * A toy step: batch norm over 4 channels, ReLU, a weighted sum. Channel 1 of row 0 equals its
 * channel's mean, so it is exactly 0 after batch norm (bias 0): a tie; the "reference" is the same step with that ReLU mask flipped,
 * which moves the BN gradients of channel 1 by far more than 1e-4.
 */
const input = tf.tensor2d(
  [
    [0.3, 0.0, -0.2, 0.7],
    [-1.1, 3.0, 0.9, -0.4],
    [0.5, -1.0, 0.1, 1.3],
    [0.8, -2.0, -0.6, 0.2],
  ],
  [4, 4],
);
const weights = tf.tensor2d(
  [
    [0.9, -1.7, 0.4, 0.3],
    [0.2, 0.5, -1.3, 0.8],
    [-0.6, 1.1, 0.7, -0.2],
    [1.4, 0.3, -0.5, 0.6],
  ],
  [4, 4],
);

const runner: ParityRunner = {
  kind: 'toy',
  async run() {
    const bn = new BatchNorm({ channels: 4 });
    const relu = new ReLU();
    const { grads } = tf.engine().gradients(
      () => tf.sum(tf.mul(relu.apply(bn.apply(input, TRAIN)), weights)) as tf.Scalar,
      bn.parameters(),
      undefined,
      true,
    );
    const out = new Map([
      ['grad.weight', grads[0]!],
      ['grad.bias', grads[1]!],
    ]);
    bn.dispose();
    return out;
  },
};

const raw = (t: tf.Tensor): RawTensor => ({ dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array });

describe('ReLU tie search', () => {
  it('finds the one flipped tie that explains the reference, and only that one', async () => {
    // Flat index 1 = row 0, channel 1 (mean of [0, 3, -1, -2] is 0): forced through, which adds
    // that element's cotangent, -1.7, to the bias gradient of channel 1.
    const flipped = [{ evaluation: 0, index: 1, mask: 1 as const }];
    const reference = await runWithDecisions(runner, {} as Fixture, flipped);
    const expected = new Map([...reference.produced].map(([name, t]) => [name, raw(t)]));
    const fixture = { dir: '', config: { kind: 'toy', net: 'none', seed: 0, batch: 4 }, weights: new Map(), batch: new Map(), expected } as Fixture;

    const strict = await runner.run(fixture);
    const strictError = Math.abs(strict.get('grad.bias')!.dataSync()[1]! - (expected.get('grad.bias')!.data as Float32Array)[1]!);
    expect(strictError).toBeCloseTo(1.7, 5);

    const result = await searchTieDecisions(runner, fixture, { threshold: 1e-4 });
    expect(result.rowsBefore.some((r) => !r.ok)).toBe(true);
    expect(result.rowsAfter.every((r) => r.ok)).toBe(true);
    expect(result.flips).toBe(1);
    expect(result.decisions).toContainEqual(flipped[0]);
    for (const t of [...strict.values(), ...reference.produced.values()]) t.dispose();
  });
});
