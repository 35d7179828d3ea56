import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCpuTrainingKernels } from '../kernels/index.js';
import { float32Bytes, measureMemory } from '../meters/meters.js';
import { disposeBatches, randomBatch } from '../testing/index.js';
import type { Batch } from '../training/plugin.js';
import { LocalTrainer } from '../training/trainer.js';
import { PipelinedTrainer } from './pipelined-trainer.js';
import { loadRecipe, type TrainerRecipe } from './recipe.js';

const recipe: TrainerRecipe = { module: new URL('./tiny-recipe.fixture.ts', import.meta.url).href, options: {}, backend: 'cpu' };

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerCpuTrainingKernels();
});

const batches = (count: number, from = 0): Batch[] => Array.from({ length: count }, (_, i) => randomBatch({ size: 4, seed: 200 + from + i }));
const copy = (b: Batch): Batch => ({ ...b, inputs: b.inputs.clone(), labels: b.labels.clone() });

/**
 * The same modules' steps in a `LocalTrainer`, measured as the sequential bench measures a step:
 * the range's state (its variables and their momentum) plus `measureMemory`'s peak allocation.
 */
async function sequentialStepMemory(data: readonly Batch[], first: number, end: number): Promise<{ stateBytes: number; stepAllocationBytes: number }> {
  const local = new LocalTrainer(await loadRecipe(recipe));
  const variables = local.variablesOfRange(first, end).map(([, v]) => v);
  const state = local.optimizer.state();
  let stateBytes = 0;
  let stepAllocationBytes = 0;
  try {
    for (const batch of data) {
      let input: tf.Tensor | undefined;
      if (first > 0) {
        const before = local.stepModules(batch, { first: 0, end: first });
        before.result.dispose();
        input = before.output;
      }
      stateBytes = Math.max(stateBytes, float32Bytes(variables) + float32Bytes(variables.flatMap((v) => (state.has(v) ? [state.get(v)!] : []))));
      const { result, memory } = await measureMemory(() => local.stepModules(batch, { first, end, input }));
      result.output?.dispose();
      result.result.dispose();
      input?.dispose();
      stepAllocationBytes = Math.max(stepAllocationBytes, memory.peakBufferAllocationBytes);
    }
  } finally {
    local.dispose();
  }
  return { stateBytes, stepAllocationBytes };
}

describe('per-worker step memory', () => {
  it("each worker's step peak is its state plus its step's allocation, as measureMemory finds for the same modules in a LocalTrainer", async () => {
    const data = batches(3);
    const trainer = await PipelinedTrainer.create({ recipe, workers: 2, placement: 'count', memoryEvery: 1 });
    try {
      for await (const _ of trainer.train(data.map(copy)));
      const meters = trainer.meters();
      for (const worker of meters) {
        const [first, end] = worker.modules;
        const expected = await sequentialStepMemory(data, first, end);
        expect(worker.sampledSteps).toBe(3);
        expect(worker.stateBytes).toBe(expected.stateBytes);
        expect(worker.stepPeakBytes).toBe(worker.stateBytes + worker.stepAllocationBytes);
        expect(worker.stepPeakBytes).toBeGreaterThan(worker.stateBytes);
        expect(Math.abs(worker.stepAllocationBytes - expected.stepAllocationBytes)).toBeLessThanOrEqual(0.02 * expected.stepAllocationBytes);
        // Between steps a worker holds its state only: that number is not the step's memory.
        expect(worker.peakBytesBetweenSteps).toBeLessThan(worker.stepPeakBytes);
      }
    } finally {
      await trainer.close();
      disposeBatches(data);
    }
  });

  it('samples step 1 and every memoryEvery steps only', async () => {
    const trainer = await PipelinedTrainer.create({ recipe, workers: 2, placement: 'count', memoryEvery: 2 });
    try {
      for await (const _ of trainer.train(batches(4)));
      // Steps 0..3: step 1 and step 3.
      expect(trainer.meters().map((m) => m.sampledSteps)).toEqual([2, 2]);
    } finally {
      await trainer.close();
    }
  });
});

describe('evaluation of a pipelined trainer', () => {
  it('leaves no tensor behind but the momentum buffers the mirror takes from the workers', async () => {
    const trainer = await PipelinedTrainer.create({ recipe, workers: 2, placement: 'count' });
    try {
      for await (const _ of trainer.train(batches(2)));
      const before = tf.memory().numTensors;
      const momentumBefore = trainer.mirror.optimizer.state().size;
      await trainer.evaluate(batches(2, 10));
      const momentumTaken = trainer.mirror.optimizer.state().size - momentumBefore;
      expect(momentumTaken).toBeGreaterThan(0);
      expect(tf.memory().numTensors - before - momentumTaken).toBe(0);
      // Evaluating again (nothing trained since) gathers nothing and leaves nothing.
      const again = tf.memory().numTensors;
      await trainer.evaluate(batches(2, 20));
      expect(tf.memory().numTensors).toBe(again);
    } finally {
      await trainer.close();
    }
  });
});
