import {
  Mean,
  Reshape,
  Sum,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { kernelWithFallback } from './kernel-fallback.js';
import { disposeIntermediate, runBackendKernel } from './run-kernel.js';

/** Below this many summed elements a single sequential pass is accurate enough. */
const STAGED_THRESHOLD = 512;

function largestDivisorAtMost(n: number, limit: number): number {
  for (let d = Math.min(n, limit); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/**
 * Reduce the leading `count` elements (reshaped to [count, rest]) in two stages of about
 * sqrt(count) each: sequential float32 accumulation over n elements loses about n·eps, so two
 * stages of sqrt(n) lose about 2·sqrt(n)·eps. Sum of sums and mean of equal-size means are exact
 * in exact arithmetic, so the result is the same reduction, only rounded better.
 */
function stagedLeading(
  kernel: KernelConfig,
  x: TensorInfo,
  count: number,
  rest: number[],
  backendName: string,
  backend: KernelBackend,
): TensorInfo | undefined {
  const inner = largestDivisorAtMost(count, Math.ceil(Math.sqrt(count)));
  if (inner < 8) return undefined;
  const split = runBackendKernel(Reshape, backendName, backend, { x }, { shape: [count / inner, inner, ...rest] });
  const first = kernel.kernelFunc({ inputs: { x: split }, backend, attrs: { axis: [1], keepDims: false } }) as TensorInfo;
  disposeIntermediate(backend, split);
  const second = kernel.kernelFunc({ inputs: { x: first }, backend, attrs: { axis: [0], keepDims: false } }) as TensorInfo;
  disposeIntermediate(backend, first);
  return second;
}

/**
 * Sum or Mean over leading axes (batch-norm statistics and gradients reduce N, H, W of NHWC)
 * computed in stages; other reductions go to the kernel this one replaced.
 */
function createStagedReductionConfig(
  kernelName: typeof Sum | typeof Mean,
  backendName: string,
  fallback: () => KernelConfig | undefined,
): KernelConfig {
  return kernelWithFallback({
    kernelName,
    backendName,
    fallback,
    missingFallback: `import the backend package first: ${kernelName}'s stages run the backend's own ${kernelName}`,
    run: (args) => {
      const backend = args.backend as KernelBackend;
      const { x } = args.inputs as { x: TensorInfo };
      const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
      const replaced = fallback();
      if (replaced == null) return null;
      const rank = x.shape.length;
      const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
      const leading = axes.every((a, i) => a === i);
      const count = axes.reduce((p, a) => p * x.shape[a]!, 1);
      if (x.dtype !== 'float32' || !leading || count < STAGED_THRESHOLD) return null;
      const rest = x.shape.slice(axes.length);
      const flat = runBackendKernel(Reshape, backendName, backend, { x }, { shape: [count, ...rest] });
      const staged = stagedLeading(replaced, flat, count, rest, backendName, backend);
      disposeIntermediate(backend, flat);
      if (staged == null) return null;
      if (!keepDims) return staged;
      const kept = runBackendKernel(Reshape, backendName, backend, { x: staged }, { shape: [...axes.map(() => 1), ...rest] });
      disposeIntermediate(backend, staged);
      return kept;
    },
  });
}

export function createStagedSumConfig(backendName: string, fallback: () => KernelConfig | undefined): KernelConfig {
  return createStagedReductionConfig(Sum, backendName, fallback);
}

export function createStagedMeanConfig(backendName: string, fallback: () => KernelConfig | undefined): KernelConfig {
  return createStagedReductionConfig(Mean, backendName, fallback);
}
