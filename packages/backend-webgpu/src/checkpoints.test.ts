import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint, LocalTrainer, perBlockCuts, saveCheckpoint, type Batch } from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { withMLAAN } from '@mlaan/mlaan';
import { cifarBatches, cifarFolder, smallResNet } from '@mlaan/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeDeviceErrors } from './register.js';
import { suiteTitle, useBackend, webGpuUnavailableReason } from './test-support.js';

/** DGL + MLAAN on a small ResNet: a checkpoint holds weights, running statistics, momentum and LAM's EMA twins. */
function trainer(): LocalTrainer {
  const backbone = smallResNet(1, 7);
  return new LocalTrainer({
    backbone,
    cuts: perBlockCuts(backbone.stageDepths),
    plugins: [dgl(), ...withMLAAN()],
    optimizer: { learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
    seed: 7,
  });
}

/** Every variable of the trainer (backbone, heads, leap nets, twins, buffers), read back, by name. */
async function variableValues(model: LocalTrainer): Promise<Map<string, Float32Array>> {
  const named = [...model.namedParameters(), ...model.namedBuffers()];
  const values = await Promise.all(named.map(async ([, variable]) => Float32Array.from(await variable.data())));
  return new Map(named.map(([name], index) => [name, values[index]!]));
}

function disposeAll(model: LocalTrainer, batches: Batch[]): void {
  model.backbone.dispose();
  model.dispose();
  for (const batch of batches) tf.dispose([batch.inputs, batch.labels]);
}

const skipReason = webGpuUnavailableReason ?? (cifarFolder() ? null : 'CIFAR-10 not found (set MLAAN_DATA_DIR)');
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mlaan-webgpu-checkpoint-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(skipReason !== null)(suiteTitle('checkpoints move between webgpu and the CPU backends'), () => {
  for (const [from, to] of [
    ['webgpu', 'cpu'],
    ['cpu', 'webgpu'],
  ] as const) {
    it(`saved on ${from} after a step, loaded on ${to}: the same variables, and the next step gives the same losses`, async () => {
      const folder = join(dir, `${from}-to-${to}`);
      await useBackend(from);
      let batches = cifarBatches(2 * 8, 8);
      let model = trainer();
      await model.step(batches[0]!).read();
      await saveCheckpoint(folder, model);
      const saved = await variableValues(model);
      const continued = (await model.step(batches[1]!).read()).losses;
      disposeAll(model, batches);

      await useBackend(to);
      batches = cifarBatches(2 * 8, 8);
      model = trainer();
      await loadCheckpoint(folder, model);
      // Bit for bit: a checkpoint is data, whichever backend wrote or reads it.
      expect(await variableValues(model)).toEqual(saved);
      // The momentum it loaded moves this step: without it the losses would differ by far more.
      const resumed = (await model.step(batches[1]!).read()).losses;
      disposeAll(model, batches);

      // One step from the same weights and momentum on another backend: float32 rounding apart.
      expect(Object.keys(resumed).sort()).toEqual(Object.keys(continued).sort());
      for (const [term, value] of Object.entries(resumed)) {
        expect(Math.abs(value - continued[term]!) / Math.abs(continued[term]!), `${term}: ${to} ${value}, ${from} ${continued[term]}`).toBeLessThan(2e-5);
      }
      expect(takeDeviceErrors()).toEqual([]);
    }, 600_000);
  }
});
