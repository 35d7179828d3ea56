import {
  Add,
  Fill,
  Reshape,
  Tile,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
  type TileAttrs,
} from '@tensorflow/tfjs-core';
import { kernelWithFallback } from './kernel-fallback.js';
import { disposeIntermediate, runBackendKernel } from './run-kernel.js';

// XNNPACK's broadcasting binary operators handle at most six dimensions.
const MAX_BROADCAST_RANK = 6;

/**
 * Tile as a broadcast: zeros of the output shape plus x, where every axis that is both tiled and
 * longer than one is split into (repetitions, length) so that x broadcasts along the repetitions.
 * tfjs-backend-wasm's own Tile is a generic element-by-element loop that is slower than the cpu
 * backend; tf.batchNorm's gradient tiles a per-channel vector to the activation shape every step.
 * Returns undefined where this does not apply (non-float dtypes, more than six split axes).
 */
function tileByBroadcast(
  x: TensorInfo,
  repetitions: readonly number[],
  backendName: string,
  backend: KernelBackend,
): TensorInfo | undefined {
  if (x.dtype !== 'float32') return undefined;
  const xShape: number[] = [];
  const zerosShape: number[] = [];
  x.shape.forEach((length, axis) => {
    const repeat = repetitions[axis] ?? 1;
    if (repeat > 1 && length > 1) {
      xShape.push(1, length);
      zerosShape.push(repeat, 1);
    } else {
      xShape.push(length);
      zerosShape.push(repeat);
    }
  });
  if (xShape.length > MAX_BROADCAST_RANK) return undefined;
  const outputShape = x.shape.map((length, axis) => length * (repetitions[axis] ?? 1));
  const zeros = runBackendKernel(Fill, backendName, backend, {}, { shape: zerosShape, value: 0, dtype: 'float32' });
  const xSplit = runBackendKernel(Reshape, backendName, backend, { x }, { shape: xShape });
  const sum = runBackendKernel(Add, backendName, backend, { a: zeros, b: xSplit });
  disposeIntermediate(backend, zeros, xSplit);
  const output = runBackendKernel(Reshape, backendName, backend, { x: sum }, { shape: outputShape });
  disposeIntermediate(backend, sum);
  return output;
}

/**
 * Tile composed from Fill, Reshape and a broadcasting Add; cases it does not cover go to
 * `fallback()`, the kernel it replaced.
 */
export function createTileConfig(backendName: string, fallback: () => KernelConfig | undefined): KernelConfig {
  return kernelWithFallback({
    kernelName: Tile,
    backendName,
    fallback,
    missingFallback: "import the backend package before registering the composed kernels (its own Tile serves the shapes a broadcast cannot)",
    run: (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const { reps } = args.attrs as unknown as TileAttrs;
      return tileByBroadcast(x, reps, backendName, args.backend as KernelBackend) ?? null;
    },
  });
}
