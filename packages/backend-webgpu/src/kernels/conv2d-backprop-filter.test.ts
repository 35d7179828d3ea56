import * as tf from '@tensorflow/tfjs-core';
import { replacedKernel } from '@mlaan/core';
import { describe, expect, it } from 'vitest';
import { randomValues, suiteTitle, useBackend, webGpuUnavailableReason } from '../test-support.js';

interface Geometry {
  name: string;
  input: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid' | number;
}

const geometries: Geometry[] = [
  { name: '3x3 stride 1 pad 1', input: [4, 8, 8, 3], filter: [3, 3, 3, 5], stride: 1, pad: 1 },
  { name: '3x3 stride 2 pad 1, odd size (the window stops short of the edge)', input: [3, 9, 9, 4], filter: [3, 3, 4, 6], stride: 2, pad: 1 },
  { name: '1x1 stride 2 (projection shortcut)', input: [2, 8, 8, 4], filter: [1, 1, 4, 8], stride: 2, pad: 'valid' },
  { name: '3x3 valid', input: [2, 7, 6, 2], filter: [3, 3, 2, 3], stride: 1, pad: 'valid' },
  { name: '5x5 same, wide rows (several chunks per image)', input: [2, 48, 40, 2], filter: [5, 5, 2, 3], stride: 1, pad: 'same' },
];

/** dW in float64 straight from the definition, for the same float32 inputs. */
function filterGradientFloat64(x: Float32Array, dy: Float32Array, g: Geometry): Float64Array {
  const [n, h, w, ci] = g.input;
  const [kh, kw, , co] = g.filter;
  const info = tf.backend_util.computeConv2DInfo(g.input, g.filter, g.stride, 1, g.pad);
  const { outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  const result = new Float64Array(kh * kw * ci * co);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let r = 0; r < kh; r++)
          for (let s = 0; s < kw; s++) {
            const y = i * g.stride + r - top;
            const z = j * g.stride + s - left;
            if (y < 0 || z < 0 || y >= h || z >= w) continue;
            for (let c = 0; c < ci; c++)
              for (let o = 0; o < co; o++) result[((r * kw + s) * ci + c) * co + o] += x[((b * h + y) * w + z) * ci + c]! * dy[((b * oh + i) * ow + j) * co + o]!;
          }
  return result;
}

function relativeError(actual: ArrayLike<number>, exact: Float64Array): number {
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < exact.length; i++) {
    difference = Math.max(difference, Math.abs(actual[i]! - exact[i]!));
    scale = Math.max(scale, Math.abs(exact[i]!));
  }
  return difference / scale;
}

async function filterGradient(kernel: 'registered' | 'tfjs', g: Geometry, x: Float32Array, dy: Float32Array): Promise<Float32Array> {
  const info = tf.backend_util.computeConv2DInfo(g.input, g.filter, g.stride, 1, g.pad);
  const xTensor = tf.tensor4d(x, g.input);
  const dyTensor = tf.tensor4d(dy, [g.input[0], info.outHeight, info.outWidth, g.filter[3]]);
  const attrs = { strides: [g.stride, g.stride], pad: g.pad, dataFormat: 'NHWC', filterShape: g.filter };
  const result =
    kernel === 'registered'
      ? (tf.engine().runKernel('Conv2DBackpropFilter', { x: xTensor, dy: dyTensor }, attrs) as tf.Tensor)
      : tf.engine().makeTensorFromTensorInfo(
          replacedKernel('Conv2DBackpropFilter', 'webgpu')!.kernelFunc({ inputs: { x: xTensor, dy: dyTensor }, backend: tf.backend(), attrs }) as tf.TensorInfo,
        );
  const values = (await result.data()) as Float32Array;
  tf.dispose([xTensor, dyTensor, result]);
  return values;
}

describe.skipIf(webGpuUnavailableReason !== null)(suiteTitle('the chunked Conv2DBackpropFilter on webgpu'), () => {
  for (const g of geometries) {
    it(`${g.name}: equals the float64 filter gradient to float32 rounding`, async () => {
      await useBackend('webgpu');
      const info = tf.backend_util.computeConv2DInfo(g.input, g.filter, g.stride, 1, g.pad);
      const x = randomValues(g.input.reduce((a, b) => a * b), 1);
      const dy = randomValues(g.input[0] * info.outHeight * info.outWidth * g.filter[3], 2);
      const tensorsBefore = tf.memory().numTensors;
      expect(relativeError(await filterGradient('registered', g, x, dy), filterGradientFloat64(x, dy, g))).toBeLessThan(1e-6);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    });
  }

  it('rounds better than the tfjs kernel it replaces, which sums the whole batch in sequence', async () => {
    await useBackend('webgpu');
    const g: Geometry = { name: 'batch 64 of 16x16', input: [64, 16, 16, 8], filter: [3, 3, 8, 8], stride: 1, pad: 1 };
    const x = randomValues(g.input.reduce((a, b) => a * b), 3);
    const dy = randomValues(g.input.reduce((a, b) => a * b), 4);
    const exact = filterGradientFloat64(x, dy, g);
    const chunked = relativeError(await filterGradient('registered', g, x, dy), exact);
    const sequential = relativeError(await filterGradient('tfjs', g, x, dy), exact);
    expect(chunked).toBeLessThan(sequential / 4);
  });
});
