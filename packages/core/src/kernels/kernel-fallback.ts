import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

/** A kernel's own path: its outputs, or null for a case it declines (another dtype, a layout it lacks). */
export type DecliningKernelFunc = (args: Parameters<KernelFunc>[0]) => TensorInfo | TensorInfo[] | null;

export interface KernelWithFallbackOptions {
  kernelName: string;
  backendName: string;
  run: DecliningKernelFunc;
  /**
   * The kernel that serves the declined cases: the one a composed kernel replaced on its backend,
   * or another backend's that works on this backend's storage (onednn keeps the cpu backend's).
   */
  fallback: () => KernelConfig | undefined;
  /** The fix when a case is declined and there is no fallback kernel (`import the backend package first`). */
  missingFallback: string;
  /** Told, on each call, whether the kernel's own path served it (kernel counters). */
  onCall?: (ownPath: boolean) => void;
}

/**
 * The one way a backend's kernel hands the cases it does not cover to another kernel, for every
 * backend (core's composed training kernels on wasm and cpu, the onednn backend's native kernels).
 * The fallback's setup runs at registration, since it still serves those cases.
 */
export function kernelWithFallback(options: KernelWithFallbackOptions): KernelConfig {
  const { kernelName, backendName, run, fallback, onCall } = options;
  const kernelFunc: KernelFunc = (args) => {
    const result = run(args);
    onCall?.(result !== null);
    if (result !== null) return result;
    const kernel = fallback();
    if (kernel === undefined) throw new Error(`${kernelName} on '${backendName}': this case needs another kernel to fall back to, and none is registered; ${options.missingFallback}.`);
    return kernel.kernelFunc(args);
  };
  return { kernelName, backendName, kernelFunc, setupFunc: (backend) => fallback()?.setupFunc?.(backend) };
}
