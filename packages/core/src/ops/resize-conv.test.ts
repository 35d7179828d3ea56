import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { resize, ResizeInterpolation, resizeConv2d, resizeConv2dPath, resizeMatrix } from './resize-conv.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const maxRelative = (a: tf.Tensor, b: tf.Tensor) =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(tf.max(tf.abs(a)).dataSync()[0]!, 1e-30));

const tfjsResize = (x: tf.Tensor4D, size: readonly [number, number], interpolation: ResizeInterpolation) =>
  interpolation === 'bilinear' ? tf.image.resizeBilinear(x, [size[0], size[1]], true) : tf.image.resizeNearestNeighbor(x, [size[0], size[1]], false);

describe('resizeMatrix', () => {
  it('bilinear with aligned corners, by hand', () => {
    // 2 -> 3: the middle sample sits half-way; 3 -> 5: quarter steps.
    expect(Array.from(resizeMatrix(2, 3, 'bilinear'))).toEqual([1, 0, 0.5, 0.5, 0, 1]);
    expect(Array.from(resizeMatrix(3, 5, 'bilinear'))).toEqual([1, 0, 0, 0.5, 0.5, 0, 0, 1, 0, 0, 0.5, 0.5, 0, 0, 1]);
    // One output sample takes the first input (aligned corners with a single sample).
    expect(Array.from(resizeMatrix(3, 1, 'bilinear'))).toEqual([1, 0, 0]);
  });

  it('nearest without aligned corners, by hand', () => {
    expect(Array.from(resizeMatrix(2, 4, 'nearest'))).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    // 3 -> 2: rows 0 and floor(1.5) = 1.
    expect(Array.from(resizeMatrix(3, 2, 'nearest'))).toEqual([1, 0, 0, 0, 1, 0]);
  });

  it('rows sum to one', () => {
    for (const interpolation of ['bilinear', 'nearest'] as const) {
      const m = resizeMatrix(7, 23, interpolation);
      for (let r = 0; r < 23; r++) expect(m.slice(r * 7, r * 7 + 7).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    }
  });
});

describe('resize', () => {
  it('matches tfjs resizeBilinear (aligned corners) and resizeNearestNeighbor', () => {
    for (const interpolation of ['bilinear', 'nearest'] as const) {
      for (const [input, size] of [[[2, 5, 7, 3], [16, 9]], [[1, 8, 8, 4], [32, 32]], [[2, 12, 10, 2], [5, 4]]] as const) {
        const x = tf.randomNormal([...input], 0, 1, 'float32', 1) as tf.Tensor4D;
        expect(maxRelative(tfjsResize(x, size, interpolation), resize(x, size, interpolation)), `${interpolation} ${input} -> ${size}`).toBeLessThan(1e-6);
      }
    }
  });
});

/**
 * <∇f(x), v> against (f(x + εv) - f(x - εv)) / 2ε for f(x) = Σ dy · op(x, W), and the same in W:
 * the op is linear in each argument, so central differences are exact up to rounding.
 */
function checkGradients(op: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor, x: tf.Tensor4D, w: tf.Tensor4D, dy: tf.Tensor): void {
  const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a as tf.Tensor4D, b as tf.Tensor4D), dy));
  const [dx, dw] = tf.grads(f)([x, w]);
  const epsilon = 0.5;
  for (const [which, gradient, seed] of [['x', dx!, 11], ['w', dw!, 12]] as const) {
    const v = tf.randomNormal(gradient.shape, 0, 1, 'float32', seed);
    const plus = which === 'x' ? f(tf.add(x, tf.mul(v, epsilon)), w) : f(x, tf.add(w, tf.mul(v, epsilon)));
    const minus = which === 'x' ? f(tf.sub(x, tf.mul(v, epsilon)), w) : f(x, tf.sub(w, tf.mul(v, epsilon)));
    const numeric = (plus.dataSync()[0]! - minus.dataSync()[0]!) / (2 * epsilon);
    const analytic = tf.sum(tf.mul(gradient, v)).dataSync()[0]!;
    expect(Math.abs(numeric - analytic) / Math.abs(numeric), `d/d${which}: ${analytic} vs ${numeric}`).toBeLessThan(2e-4);
  }
}

describe('resizeConv2d', () => {
  const cases = [
    // [input NHWC, resized size, output channels, interpolation, expected path]
    [[2, 8, 8, 64], [32, 32], 12, 'bilinear', 'convolve-then-resize'], // InfoPro decoder on a stage-3 map
    [[2, 16, 16, 32], [32, 32], 12, 'bilinear', 'convolve-then-resize'], // on a stage-2 map
    [[2, 32, 32, 16], [32, 32], 12, 'bilinear', 'identity-resize'], // on a stage-1 map
    [[3, 8, 8, 16], [32, 32], 12, 'nearest', 'convolve-then-resize'],
    [[2, 5, 6, 3], [13, 11], 4, 'bilinear', 'resize-then-convolve'], // 3 channels: the taps cost more than they save
    [[2, 5, 6, 8], [13, 11], 4, 'bilinear', 'convolve-then-resize'],
    [[2, 12, 10, 16], [5, 4], 3, 'bilinear', 'resize-then-convolve'], // downsizing: the filter runs on the small map
  ] as const;

  it('takes the path with fewer multiply-adds', () => {
    for (const [input, size, outputs, interpolation, path] of cases) {
      const x = tf.zeros([...input]) as tf.Tensor4D;
      const w = tf.zeros([3, 3, input[3], outputs]) as tf.Tensor4D;
      expect(resizeConv2dPath(x, w, size, { padding: 1, interpolation }), `${input} -> ${size}`).toBe(path);
    }
  });

  it('equals conv2d of the tfjs-resized map, and its gradients match central differences', () => {
    for (const [input, size, outputs, interpolation] of cases) {
      const x = tf.randomNormal([...input], 0, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, input[3], outputs], 0, 0.2, 'float32', 2) as tf.Tensor4D;
      const options = { padding: 1, interpolation } as const;
      const reference = tf.conv2d(tfjsResize(x, size, interpolation), w, 1, 1);
      const ours = resizeConv2d(x, w, size, options);
      expect(ours.shape).toEqual(reference.shape);
      expect(maxRelative(reference, ours), `${input} -> ${size}`).toBeLessThan(2e-6);
      const dy = tf.randomNormal(reference.shape, 0, 1, 'float32', 3);
      checkGradients((a, b) => resizeConv2d(a, b, size, options), x, w, dy);
    }
  });

  it('handles other filter sizes and paddings', () => {
    const x = tf.randomNormal([2, 6, 6, 5], 0, 1, 'float32', 4) as tf.Tensor4D;
    for (const [kernel, padding] of [[1, 0], [5, 2], [3, 0]] as const) {
      const w = tf.randomNormal([kernel, kernel, 5, 7], 0, 0.2, 'float32', 5) as tf.Tensor4D;
      const reference = tf.conv2d(tf.image.resizeBilinear(x, [20, 20], true), w, 1, padding);
      const ours = resizeConv2d(x, w, [20, 20], { padding, interpolation: 'bilinear' });
      expect(ours.shape).toEqual(reference.shape);
      expect(maxRelative(reference, ours), `k=${kernel} p=${padding}`).toBeLessThan(2e-6);
    }
  });

  it('keeps no tensors', () => {
    const x = tf.randomNormal([2, 8, 8, 16], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 16, 12], 0, 0.2, 'float32', 2) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(resizeConv2d(a as tf.Tensor4D, b as tf.Tensor4D, [32, 32], { padding: 1, interpolation: 'bilinear' })))([x, w]);
    tf.dispose([dx!, dw!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects mismatched shapes with a clear error', () => {
    const x = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
    expect(() => resizeConv2d(x, tf.zeros([3, 3, 2, 4]) as tf.Tensor4D, [8, 8], { padding: 1, interpolation: 'bilinear' })).toThrow(/matching channels/);
    expect(() => resizeConv2d(x, tf.zeros([5, 5, 3, 4]) as tf.Tensor4D, [2, 2], { padding: 0, interpolation: 'bilinear' })).toThrow(/does not fit/);
  });
});
