import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { addonUnavailableReason, expectMatchesCpu, input, setUpBackends, suiteTitle } from '../test-support.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvolutionCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilations?: number;
  rounding?: 'floor' | 'round' | 'ceil';
}

const cases: ConvolutionCase[] = [
  { name: 'batch 1, 3x3, stride 1, same', x: [1, 7, 9, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { name: 'odd sizes, 3x3, stride 2, same', x: [3, 9, 7, 5], filter: [3, 3, 5, 8], strides: 2, pad: 'same' },
  { name: 'stride 2, valid, the last row unused', x: [2, 8, 8, 4], filter: [3, 3, 4, 6], strides: 2, pad: 'valid' },
  { name: 'numeric padding 1, stride 1', x: [2, 6, 5, 16], filter: [3, 3, 16, 16], strides: 1, pad: 1 },
  { name: 'numeric padding 1, stride 2', x: [2, 9, 9, 8], filter: [3, 3, 8, 16], strides: 2, pad: 1 },
  { name: '1x1 projection, stride 2', x: [2, 7, 7, 6], filter: [1, 1, 6, 12], strides: 2, pad: 'valid' },
  { name: 'non-square filter and strides', x: [2, 11, 8, 3], filter: [5, 3, 3, 7], strides: [2, 1], pad: 'same' },
  {
    name: 'explicit asymmetric padding',
    x: [1, 6, 7, 2],
    filter: [3, 3, 2, 3],
    strides: 1,
    pad: [[0, 0], [1, 2], [0, 1], [0, 0]],
  },
  { name: 'dilation 2', x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'same', dilations: 2 },
  { name: 'ceil rounding reads past the edge', x: [1, 8, 8, 3], filter: [3, 3, 3, 5], strides: 2, pad: 0, rounding: 'ceil' },
];

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('onednn convolution kernels match the cpu backend'), () => {
  beforeAll(setUpBackends);

  for (const [index, c] of cases.entries()) {
    it(`Conv2D: ${c.name}`, async () => {
      const { counts } = await expectMatchesCpu([input(c.x, 10 + index), input(c.filter, 100 + index)], (x, filter) =>
        tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, c.strides, c.pad, 'NHWC', c.dilations ?? 1, c.rounding),
      );
      expect(counts.native.Conv2D).toBe(1);
      expect(counts.fallback.Conv2D).toBeUndefined();
    });

    // tfjs's Conv2D gradient does not support dilation and drops dimRoundingMode (the cpu kernels
    // then compute something else), so those cases are forward-only.
    if (c.dilations === undefined && c.rounding === undefined) {
      it(`Conv2DBackpropInput and Conv2DBackpropFilter: ${c.name}`, async () => {
        const outShape = tf.tidy(
          () =>
            tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, c.pad, 'NHWC', 1, c.rounding)
              .shape,
        );
        const { counts } = await expectMatchesCpu(
          [input(c.x, 20 + index), input(c.filter, 200 + index), input(outShape, 300 + index)],
          (x, filter, upstream) =>
            tf.grads((a: tf.Tensor, b: tf.Tensor) =>
              tf.sum(
                tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad, 'NHWC', 1, c.rounding), upstream!),
              ),
            )([x!, filter!]),
        );
        expect(counts.native.Conv2DBackpropInput).toBe(1);
        expect(counts.native.Conv2DBackpropFilter).toBe(1);
        expect(counts.fallback).toEqual({});
      });
    }
  }

  it('conv2dTranspose (Conv2DBackpropInput as a forward op)', async () => {
    const { counts } = await expectMatchesCpu([input([2, 5, 5, 6], 31), input([3, 3, 4, 6], 32)], (x, filter) =>
      tf.conv2dTranspose(x as tf.Tensor4D, filter as tf.Tensor4D, [2, 9, 9, 4], 2, 'same'),
    );
    expect(counts.native.Conv2DBackpropInput).toBe(1);
  });

  it('FusedConv2D with a bias and relu, and its gradients', async () => {
    const { counts } = await expectMatchesCpu(
      [input([2, 7, 7, 5], 41), input([3, 3, 5, 6], 42), input([6], 43), input([2, 4, 4, 6], 44)],
      (x, filter, bias, upstream) => {
        const forward = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.fused.conv2d({
            x: a as tf.Tensor4D,
            filter: b as tf.Tensor4D,
            strides: 2,
            pad: 'same',
            bias: c,
            activation: 'relu',
          });
        const y = forward(x!, filter!, bias!);
        const gradients = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(forward(a, b, c), upstream!)))([
          x!,
          filter!,
          bias!,
        ]);
        return [y, ...gradients];
      },
    );
    // Under a gradient tape tfjs unfuses a conv with an activation into Conv2D + Add + Relu.
    expect(counts.native.FusedConv2D).toBe(1);
    expect(counts.native.Conv2D).toBe(1);
    expect(counts.native.Conv2DBackpropInput).toBe(1);
    expect(counts.native.Conv2DBackpropFilter).toBe(1);
  });

  it('FusedConv2D with prelu goes to the cpu kernel and still matches', async () => {
    const { counts } = await expectMatchesCpu([input([1, 5, 5, 2], 51), input([3, 3, 2, 3], 52), input([3], 53)], (x, filter, alpha) =>
      tf.fused.conv2d({
        x: x as tf.Tensor4D,
        filter: filter as tf.Tensor4D,
        strides: 1,
        pad: 'same',
        activation: 'prelu',
        preluActivationWeights: alpha,
      }),
    );
    expect(counts.fallback.FusedConv2D).toBe(1);
  });
});
