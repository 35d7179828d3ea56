import * as tf from '@tensorflow/tfjs-core';
import type { BoundaryCotangent } from '../training/step-engine.js';

/**
 * One boundary cotangent on the wire (see `BoundaryCotangent`): the gradient of the terms that
 * start at module `spanStart` with respect to the activation at a worker boundary, for one batch.
 * The `keep` and `window` schedules send one per term, in the order the later stage ran its
 * heads; `sweep` one per span start. Either way the receiving stage adds them in the order the
 * sequential trainer would, so the exact exchange gives its weights bit for bit.
 */
export interface WireCotangent {
  spanStart: number;
  shape: number[];
  data: Float32Array;
}

/** Copies boundary cotangents off the device for the wire, and frees them. */
export async function cotangentsToWire(cotangents: readonly BoundaryCotangent[]): Promise<WireCotangent[]> {
  try {
    return await Promise.all(
      cotangents.map(async ({ spanStart, value }) => ({ spanStart, shape: value.shape, data: new Float32Array((await value.data()) as Float32Array) })),
    );
  } finally {
    for (const c of cotangents) c.value.dispose();
  }
}

/** Boundary cotangents from the wire, as tensors (the caller owns them). */
export function cotangentsFromWire(cotangents: readonly WireCotangent[]): BoundaryCotangent[] {
  return cotangents.map(({ spanStart, shape, data }) => ({ spanStart, value: tf.tensor(data, shape) }));
}

