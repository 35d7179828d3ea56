import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { TRAIN } from '@mlaan/core';
import { AUX_HEAD_CONFIGS, AuxHeadName, buildAuxHead, InfoProConfigError, InfoProDecoder } from './index.js';
import { useTestBackend } from '@mlaan/test-support';

beforeAll(async () => {
  await useTestBackend();
});

const shapes = (named: readonly (readonly [string, tf.Variable])[]) => Object.fromEntries(named.map(([n, v]) => [n, v.shape]));

describe('decoder', () => {
  it('reconstructs an image-sized, 3-channel map in (0, 1) with the reference variable names', () => {
    const decoder = new InfoProDecoder(64);
    expect(shapes(decoder.namedParameters())).toEqual({
      'decoder.0.weight': [3, 3, 64, 12],
      'decoder.0.bias': [12],
      'decoder.1.weight': [12],
      'decoder.1.bias': [12],
      'decoder.3.weight': [3, 3, 12, 3],
      'decoder.3.bias': [3],
    });
    expect(decoder.namedBuffers().map(([n]) => n)).toEqual(['decoder.1.running_mean', 'decoder.1.running_var']);
    const image = decoder.reconstruct(tf.randomNormal([2, 8, 8, 64], 0, 1, 'float32', 3), [32, 32], TRAIN);
    expect(image.shape).toEqual([2, 32, 32, 3]);
    const [low, high] = [tf.min(image).dataSync()[0]!, tf.max(image).dataSync()[0]!];
    expect(low).toBeGreaterThan(0);
    expect(high).toBeLessThan(1);
    expect(shapes(new InfoProDecoder(16, { widen: 2 }).namedParameters())['decoder.0.weight']).toEqual([3, 3, 16, 24]);
    tf.dispose(image);
  });

  it('upsamples bilinearly with aligned corners (2x2 → 3x3 keeps corners, centre = mean)', () => {
    const decoder = new InfoProDecoder(1);
    const features = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    // Aligned corners: rows/cols at 0, 0.5, 1 of the input grid.
    const upsampled = tf.tensor4d([1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4], [1, 3, 3, 1]);
    const expected = decoder.network.apply(upsampled, { ...TRAIN, updateStatistics: false });
    const actual = decoder.logits(features, [3, 3], { ...TRAIN, updateStatistics: false });
    expect(Array.from(actual.dataSync())).toEqual(Array.from(expected.dataSync()).map((v) => expect.closeTo(v, 5)));
    const nearest = new InfoProDecoder(1, { interpolation: 'nearest' });
    expect(nearest.logits(features, [4, 4], TRAIN).shape).toEqual([1, 4, 4, 3]);
    tf.dispose([features, upsampled, expected, actual]);
  });

  it('equals the upsample-then-network computation on every CIFAR stage width, with the same gradients', () => {
    const context = { ...TRAIN, updateStatistics: false };
    for (const [size, channels] of [[8, 64], [16, 32], [32, 16]] as const) {
      const decoder = new InfoProDecoder(channels);
      const features = tf.randomNormal([3, size, size, channels], 0, 1, 'float32', size);
      const explicit = (h: tf.Tensor) => decoder.network.apply(tf.image.resizeBilinear(h as tf.Tensor4D, [32, 32], true), context);
      const fused = (h: tf.Tensor) => decoder.logits(h, [32, 32], context);
      const reference = explicit(features);
      const ours = fused(features);
      const relative = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / tf.max(tf.abs(a)).dataSync()[0]!;
      expect(relative(reference, ours), `${size}x${size}x${channels}`).toBeLessThan(1e-5);
      const dy = tf.randomNormal(reference.shape, 0, 1, 'float32', 7);
      const gradient = (f: (h: tf.Tensor) => tf.Tensor) => tf.grad((h: tf.Tensor) => tf.sum(tf.mul(f(h), dy)))(features);
      expect(relative(gradient(explicit), gradient(fused)), `d/dh ${size}x${size}x${channels}`).toBeLessThan(1e-4);
      tf.dispose([features, reference, ours, dy]);
      decoder.dispose();
    }
  });
});

describe('auxiliary heads', () => {
  // Expected inner names and shapes per configuration for a 16-channel input (reference indices).
  const layouts: Record<AuxHeadName, Record<string, number[]>> = {
    '0c1f': { 'head.2.weight': [16, 128] },
    '0c2f': { 'head.2.weight': [16, 128], 'head.4.weight': [128, 128] },
    '1c1f': { 'head.0.weight': [3, 3, 16, 32], 'head.1.weight': [32], 'head.5.weight': [32, 128] },
    '1c2f': { 'head.0.weight': [3, 3, 16, 32], 'head.1.weight': [32], 'head.5.weight': [32, 128], 'head.7.weight': [128, 128] },
    '1c3f': { 'head.0.weight': [3, 3, 16, 32], 'head.5.weight': [32, 128], 'head.7.weight': [128, 128], 'head.9.weight': [128, 128] },
    '2c2f': { 'head.0.weight': [3, 3, 16, 32], 'head.3.weight': [3, 3, 32, 32], 'head.4.weight': [32], 'head.8.weight': [32, 128], 'head.10.weight': [128, 128] },
  };

  it('every configuration has the reference layout and maps [N, S, S, C] to [N, outputs]', () => {
    for (const config of Object.keys(AUX_HEAD_CONFIGS) as AuxHeadName[]) {
      const head = buildAuxHead({ config, channels: 16, outputs: 128 });
      const actual = shapes(head.namedParameters());
      for (const [name, shape] of Object.entries(layouts[config])) expect(actual[name], `${config} ${name}`).toEqual(shape);
      const linearCount = Object.keys(actual).filter((n) => n.endsWith('.weight') && actual[n]!.length === 2).length;
      expect(linearCount, config).toBe(AUX_HEAD_CONFIGS[config].linearLayers);
      const out = head.apply(tf.randomNormal([3, 16, 16, 16]), TRAIN);
      expect(out.shape).toEqual([3, 128]);
      out.dispose();
      head.dispose();
    }
  });

  it('first conv: 16→32 and 32→64 with stride 2, 64→64 with stride 1; widen and class outputs', () => {
    const conv = (channels: number, widen = 1) => {
      const head = buildAuxHead({ config: '1c2f', channels, outputs: 10, widen });
      const weight = head.namedParameters()[0]![1];
      const inner = (head.entries[0]![1] as import('@mlaan/core').Sequential).entries[0]![1] as import('@mlaan/core').Conv2d;
      const result = { shape: weight.shape, stride: inner.stride, out: shapes(head.namedParameters())['head.7.weight'] };
      head.dispose();
      return result;
    };
    expect(conv(16)).toEqual({ shape: [3, 3, 16, 32], stride: 2, out: [128, 10] });
    expect(conv(32)).toEqual({ shape: [3, 3, 32, 64], stride: 2, out: [128, 10] });
    expect(conv(64)).toEqual({ shape: [3, 3, 64, 64], stride: 1, out: [128, 10] });
    expect(conv(32, 2)).toEqual({ shape: [3, 3, 32, 128], stride: 2, out: [256, 10] });
  });

  it('conv configurations need a CIFAR ResNet width; 0cNf take any width', () => {
    expect(() => buildAuxHead({ config: '1c2f', channels: 8, outputs: 10 })).toThrow(InfoProConfigError);
    expect(() => buildAuxHead({ config: '1c2f', channels: 8, outputs: 10 })).toThrow(/Use auxHead '0c1f' or '0c2f'/);
    const head = buildAuxHead({ config: '0c2f', channels: 8, outputs: 10 });
    expect(shapes(head.namedParameters())['head.2.weight']).toEqual([8, 128]);
    head.dispose();
  });
});
