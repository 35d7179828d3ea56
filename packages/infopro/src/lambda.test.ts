import { describe, expect, it } from 'vitest';
import { MlaanError, UnknownSplitError } from '@mlaan/core';
import {
  infoPro,
  infoProSplit,
  InfoProConfigError,
  interpolateLambda,
  LAMBDA_PRESETS,
  paperLambda,
  UndefinedLambdaError,
  validateLambda,
} from './index.js';

describe('λ interpolation', () => {
  it('interpolates linearly from module 0 to module K-2 (METHOD §4)', () => {
    // ResNet-32 K=4, (6, 0, 1, 2): ratios 0, 1/2, 1.
    expect(interpolateLambda([6, 0, 1, 2], 0, 4)).toEqual({ reconstruction: 6, task: 0 });
    expect(interpolateLambda([6, 0, 1, 2], 1, 4)).toEqual({ reconstruction: 3.5, task: 1 });
    expect(interpolateLambda([6, 0, 1, 2], 2, 4)).toEqual({ reconstruction: 1, task: 2 });
    // K=16: module 7 has ratio 7/14.
    const middle = interpolateLambda([5, 0.05, 0.2, 0.5], 7, 16);
    expect(middle.reconstruction).toBeCloseTo(2.6, 12);
    expect(middle.task).toBeCloseTo(0.275, 12);
    // K=2: ratio 0, the first values.
    expect(interpolateLambda([5, 1, 0, 0], 0, 2)).toEqual({ reconstruction: 5, task: 1 });
    expect(() => interpolateLambda([5, 1, 0, 0], 3, 4)).toThrow(/modules 0..2 of 4/);
  });
});

describe('λ presets', () => {
  it('returns the paper values and rejects settings the paper did not train', () => {
    expect(paperLambda({ dataset: 'cifar10', net: 'resnet32', K: 4 })).toEqual([6, 0, 1, 2]);
    expect(paperLambda({ dataset: 'cifar10', net: 'resnet110', K: 2 })).toEqual([5, 0.5, 0, 0]);
    expect(paperLambda({ dataset: 'stl10', net: 'resnet110', K: 16 })).toEqual([20, 0.5, 10, 0.1]);
    expect(paperLambda({ dataset: 'cifar10', net: 'resnet110', K: 3, balancedMemory: true })).toEqual([5, 0, 5, 0.1]);
    expect(() => paperLambda({ dataset: 'svhn', net: 'resnet32', K: 4 })).toThrow(UndefinedLambdaError);
    expect(() => paperLambda({ dataset: 'svhn', net: 'resnet32', K: 4 })).toThrow(/Pass infoPro\(\{ lambda: \[ixx1, ixy1, ixx2, ixy2\] \}\)/);
    expect(() => paperLambda({ dataset: 'cifar10', net: 'resnet32', K: 3 })).toThrow(/resnet32 K=2, resnet32 K=4/);
    const keys = LAMBDA_PRESETS.map((p) => `${p.dataset}/${p.net}/${p.K}/${p.balancedMemory}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('validates λ: four finite numbers, none negative', () => {
    expect(validateLambda([1, 0, 0, 2])).toEqual([1, 0, 0, 2]);
    expect(() => validateLambda([1, -0.5, 0, 2])).toThrow(/ixy1 is -0.5; loss weights must be >= 0/);
    expect(() => validateLambda([1, 2, 3])).toThrow(/four numbers/);
    expect(() => validateLambda([1, 2, 3, NaN])).toThrow(InfoProConfigError);
  });
});

describe('options', () => {
  it('reject bad values with InfoProConfigError (an MlaanError)', () => {
    expect(() => infoPro({ lambda: [6, 0, -1, 2] })).toThrow(/ixx2 is -1/);
    expect(() => infoPro({ auxHead: '3c3f' as never })).toThrow(/infoPro\(\): auxHead must be one of '0c1f', '0c2f', '1c1f', '1c2f', '1c3f', '2c2f'; got "3c3f"/);
    expect(() => infoPro({ task: 'mse' as never })).toThrow(/'contrast', 'cross-entropy'/);
    expect(() => infoPro({ dataset: 'mnist' as never })).toThrow(/'cifar10', 'svhn', 'stl10'/);
    expect(() => infoPro({ widen: 0 })).toThrow(/widen must be a finite number > 0/);
    expect(() => infoPro({ featureDimension: 12.5 })).toThrow(/featureDimension must be an integer > 0/);
    expect(() => infoPro({ temperature: -1 })).toThrow(InfoProConfigError);
    expect(() => infoPro({ lamda: [1, 1, 1, 1] } as never)).toThrow(/infoPro\(\): unknown option\(s\) 'lamda'/);
    try {
      infoPro({ auxHead: 'x' as never });
    } catch (error) {
      expect(error).toBeInstanceOf(MlaanError);
    }
  });

  it('splits: the standard and the balanced-memory tables, and a clear error for a K the net cannot be split into', () => {
    expect(infoProSplit({ net: 'resnet32', K: 4 })).toEqual([[1, 2], [2, 1], [3, 0]]);
    expect(infoProSplit({ net: 'resnet110', K: 3, balancedMemory: true })).toEqual([[1, 9], [2, 2]]);
    expect(() => infoProSplit({ net: 'resnet32', K: 5 })).toThrow(UnknownSplitError);
    expect(() => infoProSplit({ net: 'resnet32', K: 2, balancedMemory: true })).toThrow(/No balanced-memory split of resnet32/);
  });
});
