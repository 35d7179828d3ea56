// Helpers shared by this package's tests: is a WebGPU adapter here, and run one computation on the
// cpu backend and on webgpu from identical inputs, reading results asynchronously (WebGPU in Node
// has no synchronous read).
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { registerCpuTrainingKernels, SeededRandom } from '@mlaan/core';
import { expect } from 'vitest';
import { formatAdapter } from './adapter.js';
import { activeAdapter, register, takeDeviceErrors } from './register.js';

/**
 * Why the WebGPU suites cannot run here, or null when a WebGPU adapter is available. With the
 * CI environment variable set a missing adapter is an error, not a skip: CI installs Mesa's
 * software Vulkan device (scripts/install-system-packages.sh), and a suite that silently skipped
 * there would test nothing.
 */
export const webGpuUnavailableReason: string | null = await (async () => {
  try {
    await register();
    registerCpuTrainingKernels();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
})();

if (webGpuUnavailableReason !== null) {
  if (process.env.CI) {
    throw new Error(
      `[@mlaan/backend-webgpu] CI is set but WebGPU cannot run: ${webGpuUnavailableReason} ` +
        'CI must install a Vulkan driver (scripts/install-system-packages.sh installs Mesa\'s lavapipe).',
    );
  }
  // Printed while vitest collects each file, so a skipped run says why next to its counts.
  console.warn(`[@mlaan/backend-webgpu] SKIPPING the WebGPU suites: ${webGpuUnavailableReason}`);
} else {
  console.info(`[@mlaan/backend-webgpu] WebGPU adapter: ${formatAdapter(activeAdapter()!)}`);
}

/** Suite title that states why the suite is skipped when it is. */
export function suiteTitle(title: string): string {
  return webGpuUnavailableReason === null ? title : `${title} [SKIPPED: no WebGPU adapter here. ${webGpuUnavailableReason}]`;
}

export async function useBackend(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`Backend '${name}' failed to initialise`);
  await tf.ready();
}

/** Uniform values in [low, high) from a seed, identical whichever backend they are uploaded to. */
export function randomValues(size: number, seed: number, low = -1, high = 1): Float32Array {
  const random = new SeededRandom(seed);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = random.uniform(low, high);
  return values;
}

/** Runs `compute` on `backendName`, downloads every output asynchronously, leaves no tensors behind. */
export async function computeOn(backendName: string, compute: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await useBackend(backendName);
  const outputs = tf.tidy(() => {
    const result = compute();
    return Array.isArray(result) ? result : [result];
  });
  const values = await Promise.all(outputs.map(async (tensor) => Float32Array.from(await tensor.data())));
  tf.dispose(outputs);
  return values;
}

/** max |actual − expected| divided by max |expected| (1 when expected is all zeros). */
export function relativeMaxError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  let maxDifference = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDifference = Math.max(maxDifference, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  if (Number.isNaN(maxDifference)) return Number.POSITIVE_INFINITY;
  return maxDifference / (scale > 0 ? scale : 1);
}

/**
 * Replaces the active backend's readSync with one that throws, until the returned function is
 * called: proves that what ran in between never read the device synchronously (WebGPU in Node
 * cannot, and on a GPU every such read stalls the queue).
 */
export function forbidSynchronousReads(): () => void {
  const backend = tf.backend() as tf.KernelBackend & { readSync: (dataId: object) => unknown };
  const original = backend.readSync;
  backend.readSync = () => {
    throw new Error('synchronous device read (readSync) where none may happen');
  };
  return () => {
    backend.readSync = original;
  };
}

/**
 * Runs `compute` on the cpu backend and on webgpu (where no synchronous read may happen) and
 * returns the relative max error of each webgpu output against cpu's.
 */
export async function errorsAgainstCpu(compute: () => tf.Tensor | tf.Tensor[]): Promise<number[]> {
  const expected = await computeOn('cpu', compute);
  await useBackend('webgpu');
  const allow = forbidSynchronousReads();
  let actual: Float32Array[];
  try {
    actual = await computeOn('webgpu', compute);
  } finally {
    allow();
  }
  expect(takeDeviceErrors(), 'errors the WebGPU device reported').toEqual([]);
  if (actual.length !== expected.length) throw new Error(`webgpu gave ${actual.length} outputs, cpu ${expected.length}`);
  return actual.map((values, index) => relativeMaxError(values, expected[index]!));
}

/** Expects every error below `tolerance`, naming the output that is not. */
export function expectBelow(errors: readonly number[], tolerance: number, names?: readonly string[]): void {
  if (process.env.MLAAN_PRINT_ERRORS) console.log(errors.map((e) => e.toExponential(1)).join(" "));
  errors.forEach((error, index) => {
    expect(error, `${names?.[index] ?? `output ${index}`}: relative max error ${error}`).toBeLessThan(tolerance);
  });
}
