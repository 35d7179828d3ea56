import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ConfigError, EVAL, getSplit, partition } from '@mlaan/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createNetwork, resnet110, resnet32, resnet34 } from './resnet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const countParameters = (vars: readonly (readonly [string, tf.Variable])[]) => vars.reduce((n, [, v]) => n + v.size, 0);

describe('CIFAR ResNets (METHOD §1)', () => {
  it('ResNet-32 has the published size, PyTorch names and 15 blocks in three stages', () => {
    const net = resnet32();
    // 464,154 with the paper's zero-padding shortcuts (He et al. 2016); the projection shortcuts of
    // METHOD §1 add conv1x1 16→32 + BN(32) and conv1x1 32→64 + BN(64): 512 + 64 + 2048 + 128.
    expect(countParameters(net.namedParameters())).toBe(464154 + 2752);
    expect(net.blocks).toHaveLength(15);
    expect(net.stageDepths).toEqual([5, 5, 5]);
    const names = net.namedParameters().map(([n]) => n);
    expect(names.slice(0, 3)).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias']);
    expect(names).toContain('layer2.0.downsample.0.weight');
    expect(names).toContain('layer3.4.conv2.weight');
    expect(names.slice(-2)).toEqual(['fc.weight', 'fc.bias']);
    expect(net.findBlock(3, 0)!.outputStride).toBe(4);
    net.dispose();
  });

  it('initialises conv weights N(0, sqrt(2 / (k*k*C_out))) and BN to identity', () => {
    const net = resnet32({ seed: 3 });
    const vars = new Map(net.namedVariables());
    const w = vars.get('layer3.1.conv1.weight')!.dataSync() as Float32Array;
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / (9 * 64)), 2);
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(Array.from(vars.get('bn1.weight')!.dataSync())).toEqual(new Array(16).fill(1));
    expect(Array.from(vars.get('bn1.running_var')!.dataSync())).toEqual(new Array(16).fill(1));
    const bound = 1 / Math.sqrt(64);
    expect(Math.max(...Array.from(vars.get('fc.weight')!.dataSync()).map(Math.abs))).toBeLessThanOrEqual(bound);
    net.dispose();
  });

  it('the same seed gives the same weights', () => {
    const a = resnet32({ seed: 9 });
    const b = resnet32({ seed: 9 });
    expect(Array.from(a.namedParameters()[5]![1].dataSync())).toEqual(Array.from(b.namedParameters()[5]![1].dataSync()));
    a.dispose();
    b.dispose();
  });

  it('maps CIFAR images to logits and partitions with the split tables', () => {
    const net = resnet110({ classes: 100 });
    expect(countParameters(net.namedParameters())).toBe(1730714 + 64 * 90 + 90);
    expect(partition(net, getSplit({ net: 'resnet110', K: 'per-block' }))).toHaveLength(54);
    const modules = partition(net, getSplit({ net: 'resnet110', K: 4 }));
    expect(modules.map((m) => m.outputChannels)).toEqual([16, 32, 64, 64]);
    net.dispose();
    const small = resnet32();
    const logits = small.apply(tf.zeros([2, 32, 32, 3]), EVAL);
    expect(logits.shape).toEqual([2, 10]);
    logits.dispose();
    small.dispose();
  });
});

describe('ImageNet ResNets', () => {
  it('ResNet-34 has 21.8M parameters and downsamples by 32', () => {
    const net = resnet34({ inputSize: 64 });
    expect(countParameters(net.namedParameters())).toBe(21797672);
    expect(net.stageDepths).toEqual([3, 4, 6, 3]);
    expect(net.blocks[net.blocks.length - 1]!.outputStride).toBe(32);
    const logits = net.apply(tf.zeros([1, 64, 64, 3]), EVAL);
    expect(logits.shape).toEqual([1, 1000]);
    logits.dispose();
    net.dispose();
  });

  it('rejects unknown networks and bad class counts', () => {
    expect(() => createNetwork('resnet18')).toThrow(/Unknown network 'resnet18'. Available: resnet32, resnet110, resnet34, resnet101/);
    expect(() => resnet32({ classes: 1 })).toThrow(/resnet32\(\): classes must be an integer >= 2; got 1/);
  });

  // Issue 25, defect 4: resnet32({ clases: 100 }) built a 10-class network without a word.
  it('rejects unknown options with a did-you-mean and bad values, in the library error family, building nothing', () => {
    const tensors = tf.memory().numTensors;
    const misspelt = { clases: 100 } as unknown as { classes: number };
    for (const [call, make] of [
      ['resnet32()', () => resnet32(misspelt)],
      ['resnet110()', () => resnet110(misspelt)],
      ['resnet34()', () => resnet34(misspelt)],
      ['resnet32()', () => createNetwork('resnet32', misspelt)],
    ] as const) {
      expect(make).toThrow(ConfigError);
      expect(make).toThrow(new RegExp(`^${call.replace(/[()]/g, '\\$&')}: unknown option\\(s\\) 'clases' \\('clases': did you mean 'classes'\\?\\)`));
    }
    expect(() => resnet32({ classes: 10.5 })).toThrow(/classes must be an integer >= 2; got 10.5/);
    expect(() => resnet32({ classes: '100' as unknown as number })).toThrow(/classes must be an integer >= 2; got "100"/);
    expect(() => resnet32({ seed: Number.NaN })).toThrow(/resnet32\(\): seed must be an integer; got NaN/);
    expect(() => resnet34({ inputSize: 16 })).toThrow(/resnet34\(\): inputSize must be an integer >= 32; got 16/);
    expect(() => resnet32(null as never)).toThrow(ConfigError);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
