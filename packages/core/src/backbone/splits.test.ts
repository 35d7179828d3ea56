import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { availableSplits, getSplit, partition, registerCpuTrainingKernels, UnknownSplitError } from '../index.js';
import { tinyBackbone } from '../testing/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerCpuTrainingKernels();
});

describe('split tables (METHOD §2)', () => {
  it('gives the paper cut points', () => {
    expect(getSplit({ net: 'resnet32', K: 4 })).toEqual([[1, 2], [2, 1], [3, 0]]);
    expect(getSplit({ net: 'resnet110', K: 8 })).toEqual([[1, 4], [1, 11], [2, 0], [2, 7], [2, 14], [3, 3], [3, 10]]);
    expect(getSplit({ net: 'resnet32', K: 16 })).toHaveLength(15);
    expect(getSplit({ net: 'resnet110', K: 3, variant: 'balanced' })).toEqual([[1, 9], [2, 2]]);
  });

  it('derives one-block-per-module splits (15 modules for ResNet-32, 54 for ResNet-110)', () => {
    expect(getSplit({ net: 'resnet32', K: 'per-block' })).toHaveLength(14);
    expect(getSplit({ net: 'resnet110', K: 'per-block' })).toHaveLength(53);
    expect(getSplit({ net: 'resnet32', K: 'per-block' })[0]).toEqual([1, 0]);
  });

  it('rejects an unknown K with the valid ones listed', () => {
    expect(() => getSplit({ net: 'resnet32', K: 5 })).toThrow(UnknownSplitError);
    expect(() => getSplit({ net: 'resnet32', K: 5 })).toThrow(/Valid K for resnet32: 1, 2, 3, 4, 8, 16, per-block/);
    expect(() => getSplit({ net: 'resnet32', K: 2, variant: 'balanced' })).toThrow(/balanced/);
    expect(() => getSplit({ net: 'vgg', K: 2 })).toThrow(/Unknown network 'vgg'/);
    expect(availableSplits('resnet110', 'balanced')).toEqual([2, 3, 4]);
  });
});

describe('partition', () => {
  it('cuts after the named blocks, stem in module 0', () => {
    const backbone = tinyBackbone();
    const modules = partition(backbone, [[0, 0], [1, 1]]);
    expect(modules.map((m) => m.blocks.map((b) => b.name || 'stem'))).toEqual([['stem'], ['layer1.0', 'layer1.1'], ['layer2.0']]);
    expect(modules[2]!.outputChannels).toBe(8);
    expect(modules[2]!.outputSize(32)).toBe(16);
    expect(partition(backbone, [])).toHaveLength(1);
    expect(partition(backbone, [[1, 0], [2, 0]])).toHaveLength(2);
    backbone.dispose();
  });

  it('rejects missing or unordered cut points', () => {
    const backbone = tinyBackbone();
    expect(() => partition(backbone, [[3, 0]])).toThrow(/does not exist in tiny/);
    expect(() => partition(backbone, [[1, 1], [1, 0]])).toThrow(/increasing order/);
    backbone.dispose();
  });
});
