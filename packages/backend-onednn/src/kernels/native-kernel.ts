import { getKernel, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { kernelWithFallback } from '@mlaan/core';

import { BACKEND_NAME, type OnednnBackend } from '../backend.js';

export interface NativeKernelArguments {
  inputs: Record<string, TensorInfo | undefined>;
  backend: OnednnBackend;
  attrs: NamedAttrMap;
}

/** Runs a kernel natively, or returns null when the case is one it does not cover. */
export type NativeKernelFunc = (args: NativeKernelArguments) => TensorInfo | TensorInfo[] | null;

/** How often each kernel ran natively and how often it handed a case to the cpu kernel. */
export interface KernelCounts {
  native: Record<string, number>;
  fallback: Record<string, number>;
}

// Kept on globalThis like tfjs's own kernel registry: kernels registered by one copy of this
// module (another bundle, a test file's fresh module graph) must count into the same place.
const countsKey = Symbol.for('@mlaan/backend-onednn/kernel-counts');
const counts: KernelCounts = ((globalThis as Record<symbol, unknown>)[countsKey] as KernelCounts | undefined) ??
  ((globalThis as Record<symbol, unknown>)[countsKey] = { native: {}, fallback: {} } as KernelCounts);

export function kernelCounts(): KernelCounts {
  return { native: { ...counts.native }, fallback: { ...counts.fallback } };
}

export function resetKernelCounts(): void {
  counts.native = {};
  counts.fallback = {};
}

/**
 * A kernel for the onednn backend that tries oneDNN first and, for the cases it declines
 * (another dtype, NCHW, a broadcast it cannot express), calls the cpu backend's kernel of the
 * same name, which works on this backend because its storage is the cpu backend's: core's
 * `kernelWithFallback`, the one fallback rule of every backend, with the counts kept here.
 */
export function nativeKernel(kernelName: string, run: NativeKernelFunc): KernelConfig {
  return kernelWithFallback({
    kernelName,
    backendName: BACKEND_NAME,
    run: (args) => run(args as unknown as NativeKernelArguments),
    fallback: () => getKernel(kernelName, 'cpu'),
    missingFallback: "import '@tensorflow/tfjs-backend-cpu' before registering the onednn backend",
    onCall: (ownPath) => {
      const tally = ownPath ? counts.native : counts.fallback;
      tally[kernelName] = (tally[kernelName] ?? 0) + 1;
    },
  });
}

/**
 * oneDNN requires out = floor((in + before + after - effectiveFilter) / stride) + 1 exactly.
 * TensorFlow.js's padding already satisfies it except with dimRoundingMode 'ceil'/'round', where the
 * extra output row reads past the end; there the after-padding grows to cover it (the cpu kernels
 * treat those reads as zeros too). Returns null when no non-negative padding fits.
 */
export function consistentAfterPadding(
  inSize: number,
  outSize: number,
  stride: number,
  effectiveFilter: number,
  before: number,
  after: number,
): number | null {
  const fits = (candidate: number) =>
    candidate >= 0 && Math.floor((inSize + before + candidate - effectiveFilter) / stride) + 1 === outSize;
  if (fits(after)) return after;
  const covering = (outSize - 1) * stride + effectiveFilter - inSize - before;
  return fits(covering) ? covering : null;
}
