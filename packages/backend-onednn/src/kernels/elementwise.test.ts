import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { addonUnavailableReason, expectMatchesCpu, input, runOn, setUpBackends, suiteTitle } from '../test-support.js';

type BinaryOp = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

const binaryOps: Array<[string, string, BinaryOp]> = [
  ['Add', 'add', tf.add],
  ['Sub', 'sub', tf.sub],
  ['Multiply', 'mul', tf.mul],
  ['RealDiv', 'div', tf.div],
  ['Maximum', 'maximum', tf.maximum],
  ['Minimum', 'minimum', tf.minimum],
  ['SquaredDifference', 'squaredDifference', tf.squaredDifference],
];

const shapePairs: Array<[string, number[], number[]]> = [
  ['same shapes', [2, 5, 3, 4], [2, 5, 3, 4]],
  ['per-channel vector on the right', [2, 5, 3, 4], [4]],
  ['per-channel vector on the left', [4], [2, 5, 3, 4]],
  ['keepDims statistics [1,1,1,C] on the left', [1, 1, 1, 4], [3, 5, 3, 4]],
  ['per-sample [N,1,1,1] on the right', [3, 5, 3, 4], [3, 1, 1, 1]],
  ['scalar on the right', [3, 7], []],
  ['scalar on the left', [], [3, 7]],
  ['odd sizes', [1, 7, 9, 5], [1, 7, 1, 5]],
];

const unaryOps: Array<[string, (x: tf.Tensor) => tf.Tensor, number, number]> = [
  ['Relu', tf.relu, -2, 2],
  ['Relu6', tf.relu6, -3, 9],
  ['LeakyRelu', (x) => tf.leakyRelu(x, 0.1), -2, 2],
  ['Elu', tf.elu, -3, 3],
  ['Sigmoid', tf.sigmoid, -6, 6],
  ['Tanh', tf.tanh, -3, 3],
  ['Exp', tf.exp, -4, 4],
  ['Log', tf.log, 0.01, 10],
  ['Sqrt', tf.sqrt, 0, 10],
  ['Rsqrt', tf.rsqrt, 0.01, 10],
  ['Reciprocal', tf.reciprocal, 0.1, 10],
  ['Square', tf.square, -3, 3],
  ['Abs', tf.abs, -3, 3],
  ['Neg', tf.neg, -3, 3],
  ['Step', (x) => tf.step(x), -1, 1],
];

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('onednn element-wise kernels match the cpu backend'), () => {
  beforeAll(setUpBackends);

  for (const [kernel, name, op] of binaryOps) {
    for (const [index, [description, aShape, bShape]] of shapePairs.entries()) {
      it(`${kernel}: ${description}`, async () => {
        // Denominators kept away from zero so division is well conditioned.
        const low = kernel === 'RealDiv' ? 0.5 : -2;
        const { counts } = await expectMatchesCpu([input(aShape, 3 + index, -2, 2), input(bShape, 40 + index, low, 2)], (a, b) =>
          op(a!, b!),
        );
        expect(counts.native[kernel], `${name} ran natively`).toBe(1);
      });
    }
    it(`${kernel}: both operands broadcasting ([3,1] with [1,4]) uses the cpu kernel`, async () => {
      const { counts } = await expectMatchesCpu([input([3, 1], 1, 0.5, 2), input([1, 4], 2, 0.5, 2)], (a, b) => op(a!, b!));
      expect(counts.fallback[kernel]).toBe(1);
    });
  }

  for (const [index, [kernel, op, low, high]] of unaryOps.entries()) {
    it(`${kernel} on [2,9,7,5]`, async () => {
      const { counts } = await expectMatchesCpu([input([2, 9, 7, 5], 90 + index, low, high)], (x) => op(x!));
      expect(counts.native[kernel]).toBe(1);
    });
  }

  it('Step keeps NaN and uses alpha below zero', async () => {
    const values = Float32Array.of(-1, 0, 2, Number.NaN, 0.5);
    const cpu = await runOn('cpu', [{ shape: [5], values }], (x) => tf.step(x!, 0.25));
    const onednn = await runOn('onednn', [{ shape: [5], values }], (x) => tf.step(x!, 0.25));
    expect(Array.from(onednn.values[0]!)).toEqual(Array.from(cpu.values[0]!));
  });

  it('relu gradient is one MlaanReluGrad pass on onednn and tfjs\'s own gradient on cpu', async () => {
    const { counts } = await expectMatchesCpu([input([2, 6, 6, 8], 7), input([2, 6, 6, 8], 8)], (x, upstream) =>
      tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), upstream!)))(x!),
    );
    expect(counts.native.Relu).toBe(1);
    expect(counts.native.MlaanReluGrad).toBe(1);
    expect(counts.native.Step).toBeUndefined();
    expect(counts.fallback).toEqual({});
  });

  it('AddN sums gradients of a tensor used three times', async () => {
    const { counts } = await expectMatchesCpu([input([3, 4, 5], 11), input([3, 4, 5], 12), input([3, 4, 5], 13)], (a, b, c) =>
      tf.addN([a!, b!, c!]),
    );
    expect(counts.native.AddN).toBe(1);
  });

  const tileCases: Array<[string, number[], number[]]> = [
    ['per-channel vector to a full NHWC tensor (FusedBatchNorm gradient)', [1, 1, 1, 6], [3, 4, 5, 1]],
    ['every axis repeated', [2, 3, 2], [2, 1, 3]],
    ['matrix rows', [1, 7], [5, 1]],
    ['rank 1', [4], [3]],
  ];
  for (const [index, [description, shape, reps]] of tileCases.entries()) {
    it(`Tile: ${description}`, async () => {
      const { counts } = await expectMatchesCpu([input(shape, 30 + index)], (x) => tf.tile(x!, reps));
      expect(counts.native.Tile).toBe(1);
    });
  }

  it('int32 inputs are left to the cpu kernel', async () => {
    await tf.setBackend('onednn');
    const result = tf.tidy(() => tf.add(tf.tensor([1, 2, 3], [3], 'int32'), tf.tensor([10], [1], 'int32')).arraySync());
    expect(result).toEqual([11, 12, 13]);
  });
});
