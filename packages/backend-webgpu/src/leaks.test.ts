import * as tf from '@tensorflow/tfjs-core';
import { deviceMemory, LocalTrainer, perBlockCuts, readSteps, type Batch, type StepResult } from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { withMLAAN } from '@mlaan/mlaan';
import { CIFAR_MEAN, CIFAR_STD, cifarBatches, cifarFolder, smallResNet } from '@mlaan/test-support';
import { describe, expect, it } from 'vitest';
import { takeDeviceErrors } from './register.js';
import { suiteTitle, useBackend, webGpuUnavailableReason } from './test-support.js';

/**
 * What is alive: engine tensors, the backend's data buffers, and the GPU bytes those hold. tfjs
 * releases a disposed tensor's GPU buffer when it next submits the queue, so a read (which
 * submits) comes first; its own output is released the same way at both points measured.
 */
async function alive() {
  // Large enough that tfjs runs it on the GPU (small inputs it computes on the CPU).
  const flush = tf.tidy(() => tf.add(tf.zeros([4096]), 1));
  await flush.data();
  flush.dispose();
  return { tensors: tf.memory().numTensors, buffers: tf.engine().backend.numDataIds(), gpuBytes: deviceMemory()!.inUseBytes };
}

interface HostBatch {
  inputs: Float32Array;
  labels: Int32Array;
  shape: [number, number, number, number];
}

/** Real CIFAR-10 batches as host arrays (read on the cpu backend), to upload one at a time as a loader does. */
async function hostBatches(count: number): Promise<HostBatch[]> {
  await useBackend('cpu');
  const batches = cifarBatches(count * BATCH, BATCH);
  const host = await Promise.all(
    batches.map(async (batch) => ({
      inputs: Float32Array.from(await batch.inputs.data()),
      labels: Int32Array.from(await batch.labels.data()),
      shape: batch.inputs.shape as HostBatch['shape'],
    })),
  );
  for (const batch of batches) tf.dispose([batch.inputs, batch.labels]);
  return host;
}

function upload(batch: HostBatch): Batch {
  return { inputs: tf.tensor4d(batch.inputs, batch.shape), labels: tf.tensor1d(batch.labels, 'int32'), normalization: { mean: [...CIFAR_MEAN], std: [...CIFAR_STD] } };
}

const BATCH = 8;
const BATCHES = 8;
const skipReason = webGpuUnavailableReason ?? (cifarFolder() ? null : 'CIFAR-10 not found (set MLAAN_DATA_DIR)');

describe.skipIf(skipReason !== null)(suiteTitle('an epoch on webgpu leaks no tensor and no GPU buffer'), () => {
  it(`DGL + MLAAN, a module per block: an epoch of ${BATCHES} steps of ${BATCH} real CIFAR-10 images read as the bench reads them, then an evaluation`, async () => {
    await useBackend('webgpu');
    const host = await hostBatches(BATCHES + 2);
    await useBackend('webgpu');
    const backbone = smallResNet(1, 1);
    const model = new LocalTrainer({
      backbone,
      cuts: perBlockCuts(backbone.stageDepths),
      plugins: [dgl(), ...withMLAAN()],
      optimizer: { learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
      seed: 1,
    });
    // The first step makes the momentum buffers and the plugins' state; after it, an epoch whose
    // batches come and go as a loader's do leaves exactly what was there before it.
    const first = upload(host[0]!);
    await model.step(first).read();
    tf.dispose([first.inputs, first.labels]);
    const afterFirstStep = await alive();
    let pending: { result: StepResult; batch: Batch }[] = [];
    for (let index = 1; index < BATCHES; index++) {
      const batch = upload(host[index]!);
      pending.push({ result: model.step(batch), batch });
      await new Promise<void>((resolve) => setImmediate(resolve));
      // Read every two steps and at the end, as the bench reads losses every N steps.
      if (index % 2 === 0 || index === BATCHES - 1) {
        await readSteps(pending.map(({ result }) => result));
        for (const { batch: done } of pending) tf.dispose([done.inputs, done.labels]);
        pending = [];
      }
    }
    expect(await alive()).toEqual(afterFirstStep);
    // evaluate() disposes the batches it is given.
    const evaluation = await model.evaluate(host.slice(BATCHES).map(upload));
    expect(Number.isFinite(evaluation.loss)).toBe(true);
    expect(await alive()).toEqual(afterFirstStep);
    expect(takeDeviceErrors()).toEqual([]);
    model.backbone.dispose();
    model.dispose();
  }, 600_000);
});
