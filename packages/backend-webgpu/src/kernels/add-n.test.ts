import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { takeDeviceErrors } from '../register.js';
import { errorsAgainstCpu, expectBelow, randomValues, suiteTitle, useBackend, webGpuUnavailableReason } from '../test-support.js';

describe.skipIf(webGpuUnavailableReason !== null)(suiteTitle('AddN on webgpu with more inputs than a shader binds'), () => {
  for (const count of [2, 7, 8, 15, 16, 17, 102]) {
    it(`${count} inputs sum as on the cpu backend, and the device reports no error`, async () => {
      const run = () => {
        const inputs = Array.from({ length: count }, (_, i) => tf.tensor2d(randomValues(12, 100 + i), [3, 4]));
        return tf.addN(inputs);
      };
      expectBelow(await errorsAgainstCpu(run), 1e-6);
    });
  }

  it('frees its partial sums', async () => {
    await useBackend('webgpu');
    const inputs = Array.from({ length: 40 }, (_, i) => tf.scalar(i));
    const before = tf.engine().backend.numDataIds();
    const total = tf.addN(inputs);
    expect(await total.data()).toEqual(new Float32Array([(39 * 40) / 2]));
    expect(tf.engine().backend.numDataIds()).toBe(before + 1);
    expect(takeDeviceErrors()).toEqual([]);
    tf.dispose([total, ...inputs]);
  });
});
