import * as tf from '@tensorflow/tfjs-core';
import { deviceMemory, measureMemory } from '@mlaan/core';
import { describe, expect, it } from 'vitest';
import { forbidSynchronousReads, suiteTitle, useBackend, webGpuUnavailableReason } from './test-support.js';

describe.skipIf(webGpuUnavailableReason !== null)(suiteTitle("core's memory meters on webgpu report device bytes"), () => {
  it('deviceMemory reads the GPU bytes of live tensors; the cpu backend has none', async () => {
    await useBackend('cpu');
    expect(deviceMemory()).toBeUndefined();
    await useBackend('webgpu');
    const before = deviceMemory()!;
    const tensor = tf.add(tf.ones([1 << 20]), 1); // 4 MiB written by a kernel: a GPU buffer
    const during = deviceMemory()!;
    expect(during.inUseBytes - before.inUseBytes).toBeGreaterThanOrEqual(4 << 20);
    expect(during.allocatedBytes).toBeGreaterThanOrEqual(during.inUseBytes);
    tf.dispose(tensor);
  });

  it('measureMemory samples the peak in use during the function, without reading the device synchronously', async () => {
    await useBackend('webgpu');
    const input = tf.randomUniform([64, 16, 16, 16]) as tf.Tensor4D; // 1 MiB
    const filter = tf.randomUniform([3, 3, 16, 16]);
    // Upload the inputs and submit the queue (a read does both): freed buffers stay counted as in
    // use until the next submission, and the earlier test's would otherwise inflate the baseline.
    tf.dispose(await Promise.all([tf.sum(input), tf.sum(filter)].map(async (sum) => (await sum.data(), sum))));
    const idle = deviceMemory()!.inUseBytes;
    const allow = forbidSynchronousReads();
    let sample: Awaited<ReturnType<typeof measureMemory>>['memory'];
    try {
      ({ memory: sample } = await measureMemory(() => {
        const [a, b, c] = [0, 1, 2].map(() => tf.conv2d(input, filter as tf.Tensor4D, 1, 'same')); // three live 1 MiB outputs
        tf.dispose([a, b, c]);
      }));
    } finally {
      allow();
    }
    expect(sample.device).toBeDefined();
    expect(sample.device!.peakInUseBytes - idle).toBeGreaterThanOrEqual(3 * (1 << 20));
    expect(sample.peakBufferAllocationBytes).toBe(3 * (1 << 20));
    expect(sample.newTensors).toBe(0);
    tf.dispose([input, filter]);
  });
});
