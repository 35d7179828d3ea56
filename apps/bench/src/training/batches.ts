import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '@mlaan/core';
import type { Loader } from '@mlaan/data';

/** Batches of `epoch` from batch `start` on: the same batches an uninterrupted run would see. */
export async function* batchesFrom(loader: Loader, epoch: number, start: number): AsyncGenerator<Batch> {
  if (start === 0) {
    yield* loader.batches(epoch);
    return;
  }
  const { normalization } = loader.dataset;
  for (let index = start; index < loader.size; index++) {
    // prepareAsync decodes as the workers do (sharp for ImageNet), so a resumed epoch sees the same pixels.
    const prepared = await loader.prepareAsync(epoch, index);
    yield {
      inputs: tf.tensor4d(prepared.inputs, [prepared.count, prepared.height, prepared.width, 3], 'float32'),
      labels: tf.tensor1d(prepared.labels, 'int32'),
      normalization: { mean: [...normalization.mean], std: [...normalization.std] },
    };
  }
}

/**
 * Hands on each batch and disposes it when the consumer asks for the next one (or stops early):
 * the bench owns the batches it feeds to evaluation, whatever the evaluator does with them.
 * Disposing a tensor twice is a no-op in tfjs, so an evaluator that disposes them too is fine.
 */
export async function* disposedAfterUse(batches: AsyncIterable<Batch>): AsyncGenerator<Batch> {
  for await (const batch of batches) {
    try {
      yield batch;
    } finally {
      batch.inputs.dispose();
      batch.labels.dispose();
    }
  }
}
