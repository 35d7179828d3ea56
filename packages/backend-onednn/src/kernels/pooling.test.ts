import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { addonUnavailableReason, expectMatchesCpu, input, randomValues, relativeError, setUpBackends, suiteTitle } from '../test-support.js';

interface PoolCase {
  name: string;
  x: [number, number, number, number];
  filter: number | [number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | number;
}

const cases: PoolCase[] = [
  { name: '2x2 stride 2 valid', x: [2, 8, 8, 3], filter: 2, strides: 2, pad: 'valid' },
  { name: '3x3 stride 2 same, odd size', x: [3, 9, 7, 4], filter: 3, strides: 2, pad: 'same' },
  { name: '3x3 stride 1 same, batch 1', x: [1, 6, 5, 5], filter: 3, strides: 1, pad: 'same' },
  { name: '3x3 stride 2 numeric padding 1', x: [2, 7, 7, 2], filter: 3, strides: 2, pad: 1 },
  { name: '1x1 stride 2 (option-A shortcut subsampling)', x: [2, 8, 8, 6], filter: 1, strides: 2, pad: 'valid' },
  { name: 'global 8x8 average', x: [4, 8, 8, 16], filter: 8, strides: 8, pad: 'valid' },
  { name: 'non-square window', x: [2, 9, 8, 3], filter: [3, 2], strides: [2, 1], pad: 'valid' },
];

/**
 * The gradient of TensorFlow.js's AvgPool (which divides each window by its in-bounds count),
 * written out directly: dx[p] = sum over windows w containing p of dy[w] / count(w).
 */
function averagePoolGradientReference(
  xShape: [number, number, number, number],
  dy: Float32Array,
  info: { outHeight: number; outWidth: number; filterHeight: number; filterWidth: number; strideHeight: number; strideWidth: number; top: number; left: number },
): Float32Array {
  const [batch, height, width, channels] = xShape;
  const dx = new Float32Array(batch * height * width * channels);
  for (let b = 0; b < batch; ++b) {
    for (let oy = 0; oy < info.outHeight; ++oy) {
      for (let ox = 0; ox < info.outWidth; ++ox) {
        const y0 = oy * info.strideHeight - info.top;
        const x0 = ox * info.strideWidth - info.left;
        const rows: number[] = [];
        const columns: number[] = [];
        for (let i = 0; i < info.filterHeight; ++i) if (y0 + i >= 0 && y0 + i < height) rows.push(y0 + i);
        for (let j = 0; j < info.filterWidth; ++j) if (x0 + j >= 0 && x0 + j < width) columns.push(x0 + j);
        const count = rows.length * columns.length;
        for (let c = 0; c < channels; ++c) {
          const share = dy[((b * info.outHeight + oy) * info.outWidth + ox) * channels + c]! / count;
          for (const r of rows) for (const q of columns) dx[((b * height + r) * width + q) * channels + c]! += share;
        }
      }
    }
  }
  return dx;
}

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('onednn pooling kernels match the cpu backend'), () => {
  beforeAll(setUpBackends);

  for (const [index, c] of cases.entries()) {
    it(`MaxPool and MaxPoolGrad: ${c.name}`, async () => {
      const outShape = tf.tidy(() => tf.maxPool(tf.zeros(c.x) as tf.Tensor4D, c.filter, c.strides, c.pad).shape);
      // Distinct random values: ties would make the argmax (and so the gradient) ambiguous.
      const { counts } = await expectMatchesCpu([input(c.x, 5 + index), input(outShape, 60 + index)], (x, upstream) => {
        const forward = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, c.filter, c.strides, c.pad);
        return [forward(x!), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(forward(a), upstream!)))(x!)];
      });
      expect(counts.native.MaxPool).toBe(2);
      expect(counts.native.MaxPoolGrad).toBe(1);
      expect(counts.fallback).toEqual({});
    });

    it(`AvgPool: ${c.name}`, async () => {
      const { counts } = await expectMatchesCpu([input(c.x, 15 + index)], (x) => tf.avgPool(x as tf.Tensor4D, c.filter, c.strides, c.pad));
      expect(counts.native.AvgPool).toBe(1);
    });

    it(`AvgPoolGrad: ${c.name}`, async () => {
      await tf.setBackend('onednn');
      const xValues = randomValues(c.x.reduce((a, b) => a * b, 1), 25 + index);
      const result = tf.tidy(() => {
        const x = tf.tensor(xValues, c.x) as tf.Tensor4D;
        const y = tf.avgPool(x, c.filter, c.strides, c.pad);
        const upstream = tf.tensor(randomValues(y.size, 70 + index), y.shape);
        const gradient = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(a as tf.Tensor4D, c.filter, c.strides, c.pad), upstream)))(x);
        return { upstream: upstream.dataSync() as Float32Array, gradient: gradient.dataSync() as Float32Array, outShape: y.shape };
      });
      const info = tf.backend_util.computePool2DInfo(c.x, c.filter, c.strides, 1, c.pad);
      const expected = averagePoolGradientReference(c.x, result.upstream, {
        ...info,
        top: info.padInfo.top,
        left: info.padInfo.left,
      });
      expect(relativeError(result.gradient, expected)).toBeLessThanOrEqual(1e-5);
      if (c.pad === 'valid') {
        // Without padding every window is full, and the cpu backend's AvgPoolGrad agrees too.
        const { counts } = await expectMatchesCpu([input(c.x, 25 + index), input(result.outShape, 70 + index)], (x, upstream) =>
          tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(a as tf.Tensor4D, c.filter, c.strides, c.pad), upstream!)))(x!),
        );
        expect(counts.native.AvgPoolGrad).toBe(1);
      }
    });
  }
});
