import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { addonUnavailableReason, input, relativeError, runOn, setUpBackends, suiteTitle } from '../test-support.js';
// Core's batch-norm op runs this package's fused kernels whenever the active backend registers them.
import { batchNormTraining } from '@mlaan/core';

/** Reference: the same function written with tf ops, differentiated by tfjs. */
function composed(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, epsilon: number): tf.Tensor {
  const axes = Array.from({ length: x.rank - 1 }, (_, axis) => axis);
  const { mean, variance } = tf.moments(x, axes);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, epsilon))), scale), offset);
}

const shapes: number[][] = [
  [8, 6, 5, 16],
  [1, 7, 9, 3],
  [32, 10],
  [4, 3, 3, 64],
];

describe.skipIf(addonUnavailableReason !== null)(suiteTitle("core's batchNormTraining on the fused oneDNN kernels matches tf ops"), () => {
  beforeAll(setUpBackends);

  for (const [index, shape] of shapes.entries()) {
    it(`forward, statistics and gradients for x of shape ${JSON.stringify(shape)}`, async () => {
      const channels = shape[shape.length - 1]!;
      const specs = [input(shape, 1 + index, -3, 5), input([channels], 20 + index, 0.5, 1.5), input([channels], 40 + index), input(shape, 60 + index)];
      const compute = (useFused: boolean) => (x: tf.Tensor | undefined, scale: tf.Tensor | undefined, offset: tf.Tensor | undefined, upstream: tf.Tensor | undefined) => {
        const statistics: tf.Tensor[] = [];
        const f = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
          useFused
            ? batchNormTraining(a, s as tf.Tensor1D, o as tf.Tensor1D, 1e-5, (mean, variance) => statistics.push(mean, variance))
            : composed(a, s, o, 1e-5);
        const y = f(x!, scale!, offset!);
        const gradients = tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.sum(tf.mul(f(a, s, o), upstream!)))([x!, scale!, offset!]);
        const axes = Array.from({ length: shape.length - 1 }, (_, axis) => axis);
        const reference = tf.moments(x!, axes);
        const outputs = [y, ...gradients];
        if (useFused) outputs.push(statistics[0]!, statistics[1]!, reference.mean, reference.variance);
        // The op ran twice (once more under tf.grads); the callee owns the second call's statistics.
        tf.dispose(statistics.slice(2));
        return outputs;
      };
      const expected = await runOn('cpu', specs, compute(false));
      const actual = await runOn('onednn', specs, compute(true));
      for (let output = 0; output < 4; ++output) {
        expect(actual.shapes[output]).toEqual(expected.shapes[output]);
        expect(relativeError(actual.values[output]!, expected.values[output]!), `output ${output}`).toBeLessThanOrEqual(1e-4);
      }
      // The statistics handed to onStatistics are the batch mean and the biased variance.
      expect(relativeError(actual.values[4]!, actual.values[6]!)).toBeLessThanOrEqual(1e-5);
      expect(relativeError(actual.values[5]!, actual.values[7]!)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('composes tf ops on a backend without the fused kernels', async () => {
    await tf.setBackend('cpu');
    const result = tf.tidy(() => {
      const x = tf.tensor2d([[1, 2], [3, 6]]);
      return batchNormTraining(x, tf.ones([2]) as tf.Tensor1D, tf.zeros([2]) as tf.Tensor1D, 0).arraySync();
    });
    expect(result).toEqual([[-1, -1], [1, 1]]);
  });
});
