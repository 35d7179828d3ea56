import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/index.js';
import { SeededRandom } from '../random.js';

beforeAll(async () => {
  await selectBackend('wasm', { log: () => {} });
});

/** float64 reference: sum over all axes but the last of a [rows, channels] view. */
function referenceChannelSums(values: Float32Array, channels: number): Float64Array {
  const out = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) out[i % channels] += values[i]!;
  return out;
}

describe('staged Sum / Mean on wasm', () => {
  it('batch-norm style reductions over N, H, W agree with a float64 sum to ~1e-6', () => {
    const random = new SeededRandom(4);
    const shape = [16, 32, 32, 8];
    // A large common offset is the worst case for sequential float32 accumulation.
    const values = random.fillNormal(new Float32Array(16 * 32 * 32 * 8), 3, 1);
    const x = tf.tensor4d(values, shape as [number, number, number, number]);
    const reference = referenceChannelSums(values, 8);
    const sums = tf.sum(x, [0, 1, 2]).dataSync();
    const means = tf.mean(x, [0, 1, 2]).dataSync();
    const kept = tf.sum(x, [0, 1, 2], true);
    expect(kept.shape).toEqual([1, 1, 1, 8]);
    for (let c = 0; c < 8; c++) {
      expect(Math.abs(sums[c]! - reference[c]!) / Math.abs(reference[c]!)).toBeLessThan(2e-6);
      expect(Math.abs(means[c]! - reference[c]! / 16384) / Math.abs(reference[c]! / 16384)).toBeLessThan(2e-6);
    }
    // Other reductions keep the backend's own kernel and its results.
    expect(Array.from(tf.sum(x, [1, 2]).shape)).toEqual([16, 8]);
    expect(tf.sum(tf.tensor1d([1, 2, 3])).dataSync()[0]).toBe(6);
    tf.dispose([x, kept]);
  });
});
