import * as tf from '@tensorflow/tfjs-core';
import { LocalTrainer, perBlockCuts, readSteps, selectBackend, type LocalLearningPlugin } from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { infoPro, MLAAN_LAMBDA } from '@mlaan/infopro';
import { withMLAAN } from '@mlaan/mlaan';
import { cifarBatches, cifarFolder, smallResNet } from '@mlaan/test-support';
import { describe, expect, it } from 'vitest';
import { takeDeviceErrors } from './register.js';
import { forbidSynchronousReads, suiteTitle, webGpuUnavailableReason } from './test-support.js';

/**
 * A few real CIFAR-10 training steps through LocalTrainer on webgpu give the cpu backend's losses,
 * every loss term of every step, with no synchronous read anywhere in the step. The first step
 * runs the same arithmetic on the same weights and agrees to float32 rounding; later steps start
 * from weights that differ by rounding, and float32 trajectories drift apart, by how much the wasm
 * backend's drift from cpu shows (measured: E2E 1e-7; DGL + MLAAN 4e-3 at step 3, webgpu 7e-3;
 * a large learning rate on a small batch makes that drift chaotic). So a step's losses must be
 * within 10x the largest wasm-to-cpu difference of that step, and never further than 2e-5 where
 * wasm agrees better: a missing or wrong kernel moves a loss by far more, at step 1. A small
 * ResNet (one block per stage, a module per block) keeps the three backends' steps short.
 */
const STEPS = 3;
const BATCH = 8;
const NOISE_FACTOR = 10;
const ROUNDING = 2e-5;

interface Configuration {
  name: string;
  plugins: () => LocalLearningPlugin[];
}

const configurations: Configuration[] = [
  { name: 'E2E', plugins: () => [] },
  { name: 'DGL + MLAAN', plugins: () => [dgl(), ...withMLAAN()] },
  { name: 'InfoPro + MLAAN', plugins: () => [infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' }), ...withMLAAN()] },
];

function trainer(configuration: Configuration): LocalTrainer {
  const backbone = smallResNet(1, 3);
  const local = configuration.plugins().length > 0;
  return new LocalTrainer({
    backbone,
    cuts: local ? perBlockCuts(backbone.stageDepths) : [],
    plugins: configuration.plugins(),
    optimizer: { learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
    seed: 3,
  });
}

/** Long synchronous steps starve vitest's worker RPC; give it a turn between them. */
const yieldToVitest = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Every loss term of every step, on `backend`; batches are made there from the same images. */
async function lossesOn(backend: string, configuration: Configuration): Promise<Record<string, number>[]> {
  await selectBackend(backend, { log: () => {} });
  const batches = cifarBatches(STEPS * BATCH, BATCH);
  const model = trainer(configuration);
  const allow = backend === 'webgpu' ? forbidSynchronousReads() : () => {};
  try {
    const results = [];
    for (const batch of batches) {
      results.push(model.step(batch));
      await yieldToVitest();
    }
    return (await readSteps(results)).map((values) => values.losses);
  } finally {
    allow();
    model.backbone.dispose();
    model.dispose();
    for (const batch of batches) tf.dispose([batch.inputs, batch.labels]);
  }
}

/** Loss differences, in units of the loss where it is above 1 (a term may be 0). */
function difference(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1, Math.abs(b));
}

const skipReason = webGpuUnavailableReason ?? (cifarFolder() ? null : 'CIFAR-10 not found (set MLAAN_DATA_DIR)');

describe.skipIf(skipReason !== null)(suiteTitle("real CIFAR-10 steps on webgpu give the cpu backend's losses"), () => {
  for (const configuration of configurations) {
    it(`${configuration.name}: ${STEPS} steps at batch ${BATCH}, every loss term`, async () => {
      const expected = await lossesOn('cpu', configuration);
      const noise = await lossesOn('wasm', configuration);
      const actual = await lossesOn('webgpu', configuration);
      expect(takeDeviceErrors(), 'errors the WebGPU device reported').toEqual([]);
      expect(actual.length).toBe(STEPS);
      actual.forEach((losses, step) => {
        const reference = expected[step]!;
        expect(Object.keys(losses).sort()).toEqual(Object.keys(reference).sort());
        const wasmDrift = Math.max(...Object.keys(reference).map((term) => difference(noise[step]![term]!, reference[term]!)));
        const tolerance = Math.max(NOISE_FACTOR * wasmDrift, ROUNDING);
        for (const [term, value] of Object.entries(losses)) {
          expect(difference(value, reference[term]!), `step ${step + 1} ${term}: webgpu ${value}, cpu ${reference[term]}, wasm ${noise[step]![term]}`).toBeLessThanOrEqual(tolerance);
        }
      });
    }, 900_000);
  }
});
