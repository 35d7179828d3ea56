// One failure scenario of the pipelined trainer, run in a child process by
// pipeline-failures.test.ts: it prints what the caller saw as one JSON line and must exit on its
// own with code 0 (no unhandled rejection, no worker left running).
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../backend/select-backend.js';
import { randomBatch } from '../testing/index.js';
import type { Batch } from '../training/plugin.js';
import { PipelinedTrainer, type PipelinedTrainerOptions } from './pipelined-trainer.js';
import type { TinyRecipeOptions } from './tiny-recipe.fixture.js';

const MODULE = new URL('./tiny-recipe.fixture.ts', import.meta.url).href;
const scenario = process.argv[2];
const outcome: Record<string, unknown> = { scenario };
const describe = (error: unknown) => ({ name: (error as Error).name, message: (error as Error).message });

function batches(count: number, badAt = -1): Batch[] {
  return Array.from({ length: count }, (_, i) => {
    const batch = randomBatch({ size: 4, seed: 300 + i });
    if (i !== badAt) return batch;
    batch.labels.dispose();
    return { ...batch, labels: tf.tensor1d([0, 1, 2, 10], 'int32') };
  });
}

async function trainAll({ recipeOptions, ...options }: Partial<PipelinedTrainerOptions> & { recipeOptions?: TinyRecipeOptions }, data: Batch[]): Promise<void> {
  const trainer = await PipelinedTrainer.create({ recipe: { module: MODULE, options: recipeOptions ?? {} }, workers: 2, placement: 'count', ...options });
  const losses: number[] = [];
  try {
    for await (const step of trainer.train(data)) losses.push(step.loss);
  } catch (error) {
    outcome.error = describe(error);
  } finally {
    outcome.steps = losses.length;
    await trainer.close();
  }
}

await selectBackend('cpu', { log: () => {} });
if (scenario === 'bad-label-in-train') {
  await trainAll({}, batches(4, 2));
} else if (scenario === 'worker-throws') {
  await trainAll({ recipeOptions: { failing: { module: 3, step: 2 } } }, batches(4));
} else if (scenario === 'default-backend') {
  await trainAll({}, batches(3));
  outcome.backend = tf.getBackend();
} else if (scenario === 'unawaited-rejection') {
  const trainer = await PipelinedTrainer.create({ recipe: { module: MODULE }, workers: 2, placement: 'count' });
  const [good, bad] = batches(2, 1);
  void trainer.step(bad!);
  const after = await trainer.step(good!);
  outcome.steps = after.step + 1;
  await new Promise((resolve) => setTimeout(resolve, 200));
  await trainer.close();
} else if (scenario === 'bad-options') {
  const errors: unknown[] = [];
  for (const options of [
    { recipe: { module: MODULE }, workers: 2, placement: 'fastest' },
    { recipe: { module: MODULE }, workers: 2, queueCapacity: 0 },
    { workers: 2 },
    { recipe: { module: MODULE }, worker: 2 },
    undefined,
  ]) {
    await PipelinedTrainer.create(options as never).then(
      async (trainer) => {
        errors.push('created');
        await trainer.close();
      },
      (error: unknown) => errors.push(describe(error)),
    );
  }
  outcome.errors = errors;
}
console.log(JSON.stringify(outcome));
