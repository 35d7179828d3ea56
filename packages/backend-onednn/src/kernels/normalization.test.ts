import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { addonUnavailableReason, randomValues, setUpBackends, suiteTitle } from '../test-support.js';
import { BATCH_NORM_TRAINING_GRAD_KERNEL, BATCH_NORM_TRAINING_KERNEL } from '@mlaan/core';

// A ResNet-32 stage at batch 16: 16 x 32 x 32 rows per channel. The channels' means are 0.5 to 8
// times their spread, as a convolution's outputs before batch norm can be: a float32 sum of 16 384
// such values loses digits in proportion to the mean, a double accumulator does not.
const rows = 16 * 32 * 32;
const channels = 4;
const epsilon = 1e-5;
const means = [0.5, 2, 4, 8];

function channelData(): { x: Float32Array; dy: Float32Array } {
  const noise = randomValues(rows * channels, 7);
  const gradient = randomValues(rows * channels, 8);
  const x = new Float32Array(rows * channels);
  const dy = new Float32Array(rows * channels);
  for (let r = 0; r < rows; ++r) {
    for (let c = 0; c < channels; ++c) {
      x[r * channels + c] = means[c]! + noise[r * channels + c]!;
      // A gradient correlated with x (as a loss's is), so that sum(dy * (x - mean)) is large.
      dy[r * channels + c] = 0.5 + gradient[r * channels + c]! + 0.25 * noise[r * channels + c]!;
    }
  }
  return { x, dy };
}

/** The exact statistics and gradients of the same float32 inputs, in JavaScript's doubles. */
function exact(x: Float32Array, dy: Float32Array, scale: Float32Array) {
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  const dScale = new Float64Array(channels);
  const dShift = new Float64Array(channels);
  for (let i = 0; i < x.length; ++i) mean[i % channels]! += x[i]! / rows;
  for (let i = 0; i < x.length; ++i) variance[i % channels]! += (x[i]! - mean[i % channels]!) ** 2 / rows;
  for (let i = 0; i < x.length; ++i) {
    const c = i % channels;
    dShift[c]! += dy[i]!;
    dScale[c]! += (dy[i]! * (x[i]! - mean[c]!)) / Math.sqrt(variance[c]! + epsilon);
  }
  const y = new Float64Array(x.length);
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; ++i) {
    const c = i % channels;
    const inverseStd = 1 / Math.sqrt(variance[c]! + epsilon);
    const centered = x[i]! - mean[c]!;
    y[i] = centered * inverseStd * scale[c]!;
    dx[i] = scale[c]! * inverseStd * (dy[i]! - dShift[c]! / rows - centered * inverseStd * inverseStd * (dScale[c]! / inverseStd / rows));
  }
  return { mean, variance, dScale, dShift, y, dx };
}

/** max |a - b| / max |b| */
function distance(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let difference = 0;
  let largest = 0;
  for (let i = 0; i < expected.length; ++i) {
    difference = Math.max(difference, Math.abs(actual[i]! - expected[i]!));
    largest = Math.max(largest, Math.abs(expected[i]!));
  }
  return difference / largest;
}

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('fused batch norm accumulates its statistics and gradient sums in double precision'), () => {
  beforeAll(setUpBackends);

  it('mean, variance, output, dx, dScale and dShift are float32 roundings of the exact values, whatever the mean', async () => {
    await tf.setBackend('onednn');
    const { x: xValues, dy: dyValues } = channelData();
    const scaleValues = Float32Array.from([0.9, 1.1, 1.2, 0.8]);
    const truth = exact(xValues, dyValues, scaleValues);
    const [x, dy, scale, offset] = [
      tf.tensor2d(xValues, [rows, channels]),
      tf.tensor2d(dyValues, [rows, channels]),
      tf.tensor1d(scaleValues),
      tf.zeros([channels]),
    ];
    const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAINING_KERNEL, { x, scale, offset }, { epsilon }) as tf.Tensor[];
    const [dx, dScale, dShift] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD_KERNEL, { dy, x, scale, mean: mean!, variance: variance! }, { epsilon }) as tf.Tensor[];
    const produced = { mean, variance, y, dx, dScale, dShift };
    const errors: Record<string, number> = {};
    for (const [name, tensor] of Object.entries(produced)) {
      const values = tensor!.dataSync();
      // Per channel for the statistics (each its own scale), over the tensor for the rest.
      const error =
        values.length === channels
          ? Math.max(...Array.from(values, (v, c) => Math.abs(v - truth[name as 'mean'][c]!) / Math.abs(truth[name as 'mean'][c]!)))
          : distance(values, truth[name as 'y']);
      // Measured: double accumulation <= 5e-7 (float32 rounding of the inputs and outputs); the float32
      // accumulation of oneDNN 2.6's batch norm: 1.5e-6 (mean) to 3.6e-5 (dScale).
      errors[name] = error;
    }
    for (const [name, error] of Object.entries(errors)) expect(error, name).toBeLessThan(1e-6);
    tf.dispose([x, dy, scale, offset, ...Object.values(produced)]);
  });
});
