import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '../random.js';

/** Switches the global backend explicitly, so a test states which backend each number comes from. */
export async function useBackend(name: string): Promise<void> {
  const switched = await tf.setBackend(name);
  if (!switched) throw new Error(`Backend '${name}' failed to initialise`);
  await tf.ready();
}

/** Uniform values in [-1, 1) from a seed, identical whichever backend they are uploaded to. */
export function randomValues(size: number, seed: number): Float32Array {
  const random = new SeededRandom(seed);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = random.uniform(-1, 1);
  return values;
}

/** Runs `compute` on `backendName` and downloads every output, leaving no tensors behind. */
export async function computeOn(
  backendName: string,
  compute: () => tf.Tensor | tf.Tensor[],
): Promise<Float32Array[]> {
  await useBackend(backendName);
  const outputs = tf.tidy(() => {
    const result = compute();
    return Array.isArray(result) ? result : [result];
  });
  const values = outputs.map((tensor) => tensor.dataSync() as Float32Array);
  tf.dispose(outputs);
  return values;
}

/** max |actual − expected| divided by max |expected| (1 when expected is all zeros). */
export function relativeMaxError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let maxDifference = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDifference = Math.max(maxDifference, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  if (Number.isNaN(maxDifference)) return Number.POSITIVE_INFINITY;
  return maxDifference / (scale > 0 ? scale : 1);
}
