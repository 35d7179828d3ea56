import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { addonUnavailableReason, randomValues, setUpBackends, suiteTitle } from '../test-support.js';
import {
  BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_KERNEL,
  BATCH_NORM_TRAINING_GRAD_KERNEL,
  BATCH_NORM_TRAINING_KERNEL,
} from '@mlaan/core';

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

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('batch norm fused with the ReLU after it (and a residual before it)'), () => {
  beforeAll(setUpBackends);

  // A ResNet-32 stage-3 shape at batch 4: enough rows for the parallel passes.
  const shape = [4, 8, 8, 64];
  const size = shape.reduce((a, b) => a * b, 1);
  const inputs = () => ({
    x: tf.tensor(randomValues(size, 11, -2, 3), shape),
    residual: tf.tensor(randomValues(size, 12), shape),
    dy: tf.tensor(randomValues(size, 13), shape),
    scale: tf.tensor1d(randomValues(64, 14, 0.5, 1.5)),
    offset: tf.tensor1d(randomValues(64, 15, -0.2, 0.2)),
  });

  /** relu(bn(x) [+ residual]) and its gradients through the unfused kernels (bn, add, relu, step, mul). */
  function separate(t: ReturnType<typeof inputs>, withResidual: boolean) {
    const [normalised, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAINING_KERNEL, { x: t.x, scale: t.scale, offset: t.offset }, { epsilon }) as tf.Tensor[];
    const sum = withResidual ? tf.add(normalised!, t.residual) : normalised!;
    const y = tf.relu(sum);
    const masked = tf.mul(t.dy, tf.step(y));
    const [dx, dScale, dOffset] = tf.engine().runKernel(
      BATCH_NORM_TRAINING_GRAD_KERNEL,
      { dy: masked, x: t.x, scale: t.scale, mean: mean!, variance: variance! },
      { epsilon },
    ) as tf.Tensor[];
    return { y, mean: mean!, variance: variance!, dx: dx!, dScale: dScale!, dOffset: dOffset!, dResidual: masked };
  }

  function fused(t: ReturnType<typeof inputs>, withResidual: boolean) {
    const forwardInputs: tf.NamedTensorMap = { x: t.x, scale: t.scale, offset: t.offset };
    if (withResidual) forwardInputs.residual = t.residual;
    const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_RELU_TRAINING_KERNEL, forwardInputs, { epsilon }) as tf.Tensor[];
    const [dx, dScale, dOffset, dResidual] = tf.engine().runKernel(
      BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
      { dy: t.dy, x: t.x, output: y!, scale: t.scale, mean: mean!, variance: variance! },
      { epsilon, residualGradient: withResidual },
    ) as tf.Tensor[];
    return { y: y!, mean: mean!, variance: variance!, dx: dx!, dScale: dScale!, dOffset: dOffset!, dResidual };
  }

  for (const withResidual of [false, true]) {
    it(`gives exactly the separate kernels' values ${withResidual ? 'with' : 'without'} a residual`, async () => {
      await tf.setBackend('onednn');
      const t = inputs();
      const expected = separate(t, withResidual);
      const actual = fused(t, withResidual);
      expect(actual.dResidual === undefined).toBe(!withResidual);
      const names: ('y' | 'mean' | 'variance' | 'dx' | 'dScale' | 'dOffset' | 'dResidual')[] = ['y', 'mean', 'variance', 'dx', 'dScale', 'dOffset'];
      if (withResidual) names.push('dResidual');
      for (const name of names) {
        const a = actual[name]!.dataSync();
        const e = expected[name].dataSync();
        // The same float32 operations in the same order: equal up to the sign of zeros.
        let largest = 0;
        for (let i = 0; i < e.length; i++) largest = Math.max(largest, Math.abs(a[i]! - e[i]!));
        expect(largest, name).toBe(0);
      }
      tf.dispose([...Object.values(t), ...Object.values(expected), ...Object.values(actual).filter((v): v is tf.Tensor => v !== undefined)]);
    });
  }

  it("matches the cpu backend's relu(batchNorm(x) + residual) and its finite differences", async () => {
    // Small, in double precision for the reference; a central difference of step 1e-4 that crossed
    // a ReLU kink would miss by far more than the tolerance (none does with these inputs).
    const rowsSmall = 24;
    const channelsSmall = 3;
    const xValues = randomValues(rowsSmall * channelsSmall, 21, -2, 2);
    const residualValues = randomValues(rowsSmall * channelsSmall, 22, -1, 1);
    const weights = randomValues(rowsSmall * channelsSmall, 23);
    const scaleValues = Float32Array.from([0.8, 1.3, 1.0]);
    const offsetValues = Float32Array.from([0.1, -0.2, 0.05]);
    // Double-precision reference of L = sum(weights * relu(bn(x) + residual)).
    const loss = (x: Float64Array, scale: Float64Array, offset: Float64Array, residual: Float64Array) => {
      let total = 0;
      for (let c = 0; c < channelsSmall; c++) {
        let mean = 0;
        for (let r = 0; r < rowsSmall; r++) mean += x[r * channelsSmall + c]! / rowsSmall;
        let variance = 0;
        for (let r = 0; r < rowsSmall; r++) variance += (x[r * channelsSmall + c]! - mean) ** 2 / rowsSmall;
        for (let r = 0; r < rowsSmall; r++) {
          const i = r * channelsSmall + c;
          const v = ((x[i]! - mean) / Math.sqrt(variance + epsilon)) * scale[c]! + offset[c]! + residual[i]!;
          total += weights[i]! * Math.max(v, 0);
        }
      }
      return total;
    };
    const base = {
      x: Float64Array.from(xValues),
      scale: Float64Array.from(scaleValues),
      offset: Float64Array.from(offsetValues),
      residual: Float64Array.from(residualValues),
    };
    const finiteDifference = (name: keyof typeof base, i: number) => {
      const step = 1e-4;
      const plus = { ...base, [name]: Float64Array.from(base[name]) };
      const minus = { ...base, [name]: Float64Array.from(base[name]) };
      plus[name][i]! += step;
      minus[name][i]! -= step;
      return (loss(plus.x, plus.scale, plus.offset, plus.residual) - loss(minus.x, minus.scale, minus.offset, minus.residual)) / (2 * step);
    };

    await tf.setBackend('onednn');
    const t = {
      x: tf.tensor2d(xValues, [rowsSmall, channelsSmall]),
      residual: tf.tensor2d(residualValues, [rowsSmall, channelsSmall]),
      dy: tf.tensor2d(weights, [rowsSmall, channelsSmall]),
      scale: tf.tensor1d(scaleValues),
      offset: tf.tensor1d(offsetValues),
    };
    const actual = fused(t, true);
    await tf.setBackend('cpu');
    const cpuY = tf.tidy(() => {
      const x = tf.tensor2d(xValues, [rowsSmall, channelsSmall]);
      const { mean, variance } = tf.moments(x, [0]);
      return tf.relu(tf.add(tf.batchNorm(x, mean, variance, tf.tensor1d(offsetValues), tf.tensor1d(scaleValues), epsilon), tf.tensor2d(residualValues, [rowsSmall, channelsSmall])));
    });
    expect(distance(actual.y.dataSync(), cpuY.dataSync())).toBeLessThan(1e-5);
    const gradients = {
      x: actual.dx.dataSync(),
      scale: actual.dScale.dataSync(),
      offset: actual.dOffset.dataSync(),
      residual: actual.dResidual!.dataSync(),
    };
    for (const name of ['x', 'scale', 'offset', 'residual'] as const) {
      const expected = Array.from(base[name], (_, i) => finiteDifference(name, i));
      expect(distance(gradients[name], expected), name).toBeLessThan(1e-3);
    }
    cpuY.dispose();
    await tf.setBackend('onednn');
    tf.dispose([...Object.values(t), ...Object.values(actual).filter((v): v is tf.Tensor => v !== undefined)]);
  });
});
