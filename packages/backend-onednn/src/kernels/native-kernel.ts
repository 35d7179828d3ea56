import { getKernel, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';

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
 * same name, which works on this backend because its storage is the cpu backend's.
 */
export function nativeKernel(kernelName: string, run: NativeKernelFunc): KernelConfig {
  let fallback: KernelFunc | undefined;
  const kernelFunc: KernelFunc = (args) => {
    const result = run(args as unknown as NativeKernelArguments);
    if (result !== null) {
      counts.native[kernelName] = (counts.native[kernelName] ?? 0) + 1;
      return result;
    }
    counts.fallback[kernelName] = (counts.fallback[kernelName] ?? 0) + 1;
    fallback ??= getKernel(kernelName, 'cpu')?.kernelFunc;
    if (!fallback) {
      throw new Error(
        `The onednn backend has no cpu kernel '${kernelName}' to fall back to; import '@tensorflow/tfjs-backend-cpu' before registering.`,
      );
    }
    return fallback(args);
  };
  return { kernelName, backendName: BACKEND_NAME, kernelFunc };
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
