import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm, Conv2d, EVAL, Linear, ReLU, registerCpuTrainingKernels, Residual, Sequential, SeededRandom, ShapeError, TRAIN } from '../index.js';
import type { Layer } from './layer.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerCpuTrainingKernels();
});

function block(random: SeededRandom, inC: number, outC: number, stride: number): Residual {
  return new Residual({
    main: [
      ['conv1', new Conv2d({ inChannels: inC, outChannels: outC, kernelSize: 3, stride, padding: 1, random })],
      ['bn1', new BatchNorm({ channels: outC })],
      ['relu', new ReLU()],
      ['conv2', new Conv2d({ inChannels: outC, outChannels: outC, kernelSize: 3, padding: 1, random })],
      ['bn2', new BatchNorm({ channels: outC })],
    ],
    shortcut: [
      ['0', new Conv2d({ inChannels: inC, outChannels: outC, kernelSize: 1, stride, random })],
      ['1', new BatchNorm({ channels: outC })],
    ],
  });
}

function maxRelativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(tf.max(tf.abs(b)).dataSync()[0]!, 1e-12));
}

/** Reference gradients of sum(layer(x) * r) by tfjs autograd. */
function autogradReference(layer: Layer, x: tf.Tensor, r: tf.Tensor) {
  const vars = layer.namedParameters();
  const { grads } = tf.engine().gradients(
    () => tf.sum(tf.mul(layer.apply(x, { training: true, updateStatistics: false }), r)) as tf.Scalar,
    [x, ...vars.map(([, v]) => v)],
  );
  return { input: grads[0]!, parameters: new Map(vars.map(([n], i) => [n, grads[i + 1]!])) };
}

describe('traced backward', () => {
  it.each([1, 2])('matches tfjs autograd for a residual block with projection (stride %i)', (stride) => {
    const random = new SeededRandom(3);
    const layer = block(random, 3, 5, stride);
    const x = tf.tensor4d(random.fillNormal(new Float32Array(4 * 7 * 7 * 3), 0, 1), [4, 7, 7, 3]);
    const activation = layer.forward(x, { training: true, updateStatistics: false });
    const r = tf.randomNormal(activation.output.shape, 0, 1, 'float32', 5);
    const ours = activation.backward(r, { input: true, parameters: true });
    const reference = autogradReference(layer, x, r);
    expect(maxRelativeError(ours.input!, reference.input)).toBeLessThan(1e-5);
    expect(Object.keys(ours.parameters!).sort()).toEqual([...reference.parameters.keys()].sort());
    for (const [name, g] of reference.parameters) {
      expect(maxRelativeError(ours.parameters![name]!, g), name).toBeLessThan(1e-5);
    }
    activation.dispose();
    layer.dispose();
  });

  // ReLU kinks make finite differences of a whole residual block unreliable in float32 (a few of
  // the batch-normalised pre-activations always sit within h of zero), so the smooth part of the
  // block (conv-BN-conv-BN) is checked here; the full block is checked against autograd above and
  // against PyTorch by the parity fixtures.
  it('agrees with central finite differences on the smooth part of a block, per parameter tensor', () => {
    const random = new SeededRandom(11);
    const layer = new Sequential([
      ['conv1', new Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, stride: 2, padding: 1, random })],
      ['bn1', new BatchNorm({ channels: 3 })],
      ['conv2', new Conv2d({ inChannels: 3, outChannels: 3, kernelSize: 3, padding: 1, random })],
      ['bn2', new BatchNorm({ channels: 3 })],
    ]);
    const x = tf.tensor4d(random.fillNormal(new Float32Array(3 * 5 * 5 * 2), 0, 1), [3, 5, 5, 2]);
    const r = tf.randomNormal([3, 3, 3, 3], 0, 1, 'float32', 9);
    const objective = () =>
      tf.tidy(() => tf.sum(tf.mul(layer.apply(x, { training: true, updateStatistics: false }), r)).dataSync()[0]!);
    const activation = layer.forward(x, { training: true, updateStatistics: false });
    const analytic = activation.backward(r, { input: true, parameters: true });
    for (const [name, variable] of layer.namedParameters()) {
      const origin = variable.dataSync().slice();
      const direction = random.fillNormal(new Float32Array(variable.size), 0, 1);
      const move = (t: number) => variable.assign(tf.tensor(origin.map((o, j) => o + t * direction[j]!), variable.shape));
      const h = 2e-3;
      move(h);
      const plus = objective();
      move(-h);
      const minus = objective();
      move(0);
      const numeric = (plus - minus) / (2 * h);
      let exact = 0;
      analytic.parameters![name]!.dataSync().forEach((g, j) => (exact += g * direction[j]!));
      expect(Math.abs(numeric - exact), name).toBeLessThan(5e-3 * Math.max(1, Math.abs(exact)));
    }
    activation.dispose();
    layer.dispose();
  });
});

describe('BatchNorm (PyTorch semantics)', () => {
  it('normalises with the biased batch variance and updates running stats with the unbiased one', () => {
    const bn = new BatchNorm({ channels: 2 });
    // Channel 0: 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3); channel 1: 0, 0, 4, 4 (mean 2, var 4, unbiased 16/3).
    const x = tf.tensor2d([1, 0, 2, 0, 3, 4, 4, 4], [4, 2]);
    const y = bn.apply(x, TRAIN).arraySync() as number[][];
    const z = (v: number, mean: number, variance: number) => (v - mean) / Math.sqrt(variance + 1e-5);
    expect(y[0]![0]).toBeCloseTo(z(1, 2.5, 1.25), 5);
    expect(y[3]![1]).toBeCloseTo(z(4, 2, 4), 5);
    const mean = bn.runningMean.dataSync();
    const variance = bn.runningVar.dataSync();
    expect(mean[0]).toBeCloseTo(0.25, 6);
    expect(mean[1]).toBeCloseTo(0.2, 6);
    expect(variance[0]).toBeCloseTo(0.9 + 0.1 * (5 / 3), 6);
    expect(variance[1]).toBeCloseTo(0.9 + 0.1 * (16 / 3), 6);
    const e = bn.apply(x, EVAL).arraySync() as number[][];
    expect(e[0]![0]).toBeCloseTo((1 - 0.25) / Math.sqrt(variance[0]! + 1e-5), 5);
    const frozen = bn.runningMean.dataSync().slice();
    bn.apply(x, { training: true, updateStatistics: false });
    expect(Array.from(bn.runningMean.dataSync())).toEqual(Array.from(frozen));
    bn.dispose();
  });

  it('traced forward updates running statistics exactly once', () => {
    const bn = new BatchNorm({ channels: 2 });
    const x = tf.tensor2d([1, 0, 2, 0, 3, 4, 4, 4], [4, 2]);
    const activation = bn.forward(x, TRAIN);
    activation.backward(tf.onesLike(x), { input: true, parameters: true });
    expect(bn.runningMean.dataSync()[0]).toBeCloseTo(0.25, 6);
    activation.dispose();
    bn.dispose();
  });

  // Issue 25, item 8: an empty batch was reported as "a batch of 1 with 1x1 maps".
  it('says what it got when a channel has fewer than two values: an empty batch, or one value', () => {
    const bn = new BatchNorm({ channels: 3 });
    const empty = tf.zeros([0, 4, 4, 3]);
    const single = tf.zeros([1, 1, 1, 3]);
    const tensors = tf.memory().numTensors;
    expect(() => bn.apply(empty, TRAIN)).toThrow(ShapeError);
    expect(() => bn.apply(empty, TRAIN)).toThrow('needs more than one value per channel; got shape [0, 4, 4, 3]: an empty batch. Train on batches of at least 2 images.');
    expect(() => bn.forward(single, TRAIN)).toThrow('got shape [1, 1, 1, 3]: one value per channel.');
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([empty, single]);
    bn.dispose();
  });
});

describe('Layer.dispose', () => {
  it('leaves no tensor behind, neither for a fresh layer nor for its clone', () => {
    const before = tf.memory().numTensors;
    const layer = block(new SeededRandom(3), 2, 4, 2);
    const copy = new Sequential([
      ['fc', new Linear({ inFeatures: 3, outFeatures: 2, random: new SeededRandom(4) })],
      ['bn', new BatchNorm({ channels: 2 })],
    ]);
    const copyOfCopy = copy.clone();
    layer.dispose();
    copy.dispose();
    copyOfCopy.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('Layer.clone', () => {
  it('copies values into new variables', () => {
    const random = new SeededRandom(2);
    const original = new Sequential([
      ['fc', new Linear({ inFeatures: 3, outFeatures: 2, random })],
      ['bn', new BatchNorm({ channels: 2 })],
    ]);
    const copy = original.clone();
    const a = original.namedVariables();
    const b = copy.namedVariables();
    expect(b.map(([n]) => n)).toEqual(a.map(([n]) => n));
    a.forEach(([, v], i) => {
      expect(b[i]![1]).not.toBe(v);
      expect(Array.from(b[i]![1].dataSync())).toEqual(Array.from(v.dataSync()));
    });
    const before = Array.from(b[0]![1].dataSync());
    a[0]![1].assign(tf.zerosLike(a[0]![1]));
    expect(Array.from(b[0]![1].dataSync())).toEqual(before);
    original.dispose();
    copy.dispose();
  });

  it('parameters iterate in a stable, PyTorch-style order', () => {
    const layer = block(new SeededRandom(1), 2, 4, 2);
    expect(layer.namedParameters().map(([n]) => n)).toEqual([
      'conv1.weight', 'bn1.weight', 'bn1.bias', 'conv2.weight', 'bn2.weight', 'bn2.bias',
      'downsample.0.weight', 'downsample.1.weight', 'downsample.1.bias',
    ]);
    expect(layer.namedBuffers().map(([n]) => n)).toEqual([
      'bn1.running_mean', 'bn1.running_var', 'bn2.running_mean', 'bn2.running_var',
      'downsample.1.running_mean', 'downsample.1.running_var',
    ]);
    layer.dispose();
  });
});
