// Helpers shared by this package's tests: run the same computation on the cpu backend and on
// onednn from identical inputs, and compare.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

import { kernelCounts, type KernelCounts } from './kernels/index.js';
import { loadAddon } from './native.js';
import { register } from './register.js';

/** Why the native suites are skipped, or null when the addon loads. */
export const addonUnavailableReason: string | null = (() => {
  try {
    loadAddon();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
})();

if (addonUnavailableReason !== null) {
  // Printed while vitest collects each file, so a skipped run says why next to its counts.
  console.warn(`[@mlaan/backend-onednn] SKIPPING the native-kernel suites: ${addonUnavailableReason}`);
}

/** Suite title that states why the suite is skipped when it is. */
export function suiteTitle(title: string): string {
  return addonUnavailableReason === null
    ? title
    : `${title} [SKIPPED: the oneDNN addon is not built here. ${addonUnavailableReason}]`;
}

export async function setUpBackends(): Promise<void> {
  if (addonUnavailableReason !== null) return;
  await register();
}

/** Deterministic uniform values in [low, high). */
export function randomValues(size: number, seed: number, low = -1, high = 1): Float32Array {
  let state = seed >>> 0 || 1;
  const values = new Float32Array(size);
  for (let i = 0; i < size; ++i) {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    values[i] = low + (high - low) * unit;
  }
  return values;
}

export interface InputSpec {
  shape: number[];
  values: Float32Array;
}

export function input(shape: number[], seed: number, low = -1, high = 1): InputSpec {
  return { shape, values: randomValues(shape.reduce((a, b) => a * b, 1), seed, low, high) };
}

/** Runs `compute` on `backend` with fresh tensors made from `inputs`; returns the outputs' values. */
export async function runOn(
  backend: string,
  inputs: InputSpec[],
  compute: (...tensors: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<{ shapes: number[][]; values: Float32Array[] }> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const tensors = inputs.map((spec) => tf.tensor(spec.values, spec.shape, 'float32'));
  const result = tf.tidy(() => {
    const out = compute(...tensors);
    return Array.isArray(out) ? out : [out];
  });
  const shapes = result.map((tensor) => tensor.shape);
  const values = result.map((tensor) => Float32Array.from(tensor.dataSync() as Float32Array));
  tf.dispose(result);
  tf.dispose(tensors);
  expect(tf.memory().numTensors, `tensors leaked on ${backend}`).toBe(before);
  return { shapes, values };
}

/** Largest |a - b| divided by the reference's largest magnitude (a scale-relative error). */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  let scale = 1e-30;
  for (const value of expected) scale = Math.max(scale, Math.abs(value));
  let worst = 0;
  for (let i = 0; i < expected.length; ++i) {
    const difference = Math.abs(actual[i]! - expected[i]!);
    if (Number.isNaN(difference)) return Number.isNaN(actual[i]!) && Number.isNaN(expected[i]!) ? worst : Infinity;
    worst = Math.max(worst, difference);
  }
  return worst / Math.max(scale, 1e-6);
}

export function countsDelta(before: KernelCounts, after: KernelCounts): KernelCounts {
  const delta = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(b)
        .map(([name, count]) => [name, count - (a[name] ?? 0)] as const)
        .filter(([, count]) => count > 0),
    );
  return { native: delta(before.native, after.native), fallback: delta(before.fallback, after.fallback) };
}

export interface Comparison {
  /** Kernels that ran natively / fell back while onednn computed. */
  counts: KernelCounts;
  worst: number;
}

/**
 * Computes on cpu and onednn from the same inputs and asserts every output matches within
 * `tolerance` (relative to the output's scale) with identical shapes. Returns which onednn kernels
 * ran natively so tests can also assert the native path was taken.
 */
export async function expectMatchesCpu(
  inputs: InputSpec[],
  compute: (...tensors: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
  tolerance = 1e-4,
): Promise<Comparison> {
  const reference = await runOn('cpu', inputs, compute);
  const before = kernelCounts();
  const actual = await runOn('onednn', inputs, compute);
  const counts = countsDelta(before, kernelCounts());
  let worst = 0;
  expect(actual.shapes).toEqual(reference.shapes);
  reference.values.forEach((expected, index) => {
    const error = relativeError(actual.values[index]!, expected);
    worst = Math.max(worst, error);
    expect(error, `output ${index} relative error`).toBeLessThanOrEqual(tolerance);
  });
  return { counts, worst };
}
