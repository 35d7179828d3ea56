import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import type { OnednnBackend } from './backend.js';
import { loadAddon } from './native.js';
import { addonUnavailableReason, randomValues, setUpBackends, suiteTitle } from './test-support.js';

// 128 x 32 x 32 x 4 floats = 2 MiB: well above the pool's lower bound.
const shape = [16, 32, 32, 4];
const size = shape.reduce((a, b) => a * b, 1);

/** Number of positions where two arrays differ (cheap to report, unlike a deep-equality diff). */
function differences(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let count = Math.abs(actual.length - expected.length);
  for (let i = 0; i < Math.min(actual.length, expected.length); ++i) if (actual[i] !== expected[i]) count += 1;
  return count;
}

function backend(): OnednnBackend {
  return tf.backend() as OnednnBackend;
}

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('onednn backend memory: reuse without aliasing, no leaks'), () => {
  beforeAll(async () => {
    await setUpBackends();
    await tf.setBackend('onednn');
  });

  it('reuses the array of a disposed output for the next output of the same size', () => {
    const x = tf.tensor(randomValues(size, 1), shape);
    tf.dispose(tf.relu(x)); // the first output of this size may be fresh
    const before = backend().pool.stats();
    for (let i = 0; i < 5; ++i) tf.dispose(tf.relu(x));
    const after = backend().pool.stats();
    expect(after.reused - before.reused).toBe(5);
    expect(after.allocated).toBe(before.allocated);
    x.dispose();
  });

  it('never recycles an array the caller read with dataSync', () => {
    const x = tf.tensor(randomValues(size, 2), shape);
    const y = tf.relu(x);
    const values = y.dataSync() as Float32Array;
    const copy = Float32Array.from(values);
    y.dispose();
    for (let i = 0; i < 4; ++i) tf.dispose(tf.neg(x));
    expect(differences(values, copy)).toBe(0);
    x.dispose();
  });

  it('never recycles memory that a zero-copy slice of the tensor still shares', () => {
    const x = tf.tensor(randomValues(size, 3), shape);
    const y = tf.relu(x);
    // A slice along the first axis is contiguous: the cpu kernel returns a subarray of y's array.
    const head = tf.slice(y, [0, 0, 0, 0], [8, 32, 32, 4]);
    const expected = Float32Array.from((y.dataSync() as Float32Array).subarray(0, head.size));
    y.dispose();
    for (let i = 0; i < 4; ++i) tf.dispose(tf.neg(x));
    expect(differences(head.dataSync(), expected)).toBe(0);
    tf.dispose([x, head]);
  });

  it('never reuses an array the caller passed in to make a tensor', () => {
    const mine = randomValues(size, 4);
    const copy = Float32Array.from(mine);
    const x = tf.tensor(mine, shape);
    const y = tf.relu(x);
    x.dispose();
    for (let i = 0; i < 4; ++i) tf.dispose(tf.neg(y));
    expect(differences(mine, copy)).toBe(0);
    y.dispose();
  });

  it('a training step leaks no tensors and creates no primitives after the first step', () => {
    const addon = loadAddon();
    const weight = tf.variable(tf.randomNormal([3, 3, 4, 8], 0, 0.1, 'float32', 5));
    const head = tf.variable(tf.randomNormal([8, 10], 0, 0.1, 'float32', 6));
    const images = tf.tensor(randomValues(size, 7), shape);
    const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 10), 'int32'), 10);
    const optimizer = tf.train.sgd(0.1);
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const features = tf.relu(tf.conv2d(images as tf.Tensor4D, weight as tf.Tensor4D, 2, 'same'));
          const pooled = tf.mean(features, [1, 2]);
          return tf.losses.softmaxCrossEntropy(labels, tf.matMul(pooled, head)) as tf.Scalar;
        });
        optimizer.applyGradients(grads);
        return value.dataSync()[0]!;
      });
    const first = step();
    const tensors = tf.memory().numTensors;
    const primitives = addon.cacheStats().entries;
    let last = first;
    for (let i = 0; i < 5; ++i) last = step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(addon.cacheStats().entries).toBe(primitives);
    expect(last).toBeLessThan(first);
    tf.dispose([weight, head, images, labels]);
    optimizer.dispose();
  });
});
