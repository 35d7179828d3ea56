import '@tensorflow/tfjs-backend-cpu';
import { availableParallelism } from 'node:os';

import {
  engine,
  findBackendFactory,
  getBackend,
  getGradient,
  getKernel,
  getKernelsForBackend,
  type GradConfig,
  registerBackend,
  registerGradient,
  registerKernel,
  Relu,
  type Tensor,
} from '@tensorflow/tfjs-core';

import { BACKEND_NAME, DEFAULT_BUFFER_POOL_BYTES, OnednnBackend } from './backend.js';
import { extraKernelConfigs, nativeKernelConfigs, ReluGrad } from './kernels/index.js';
import { addonLoads, loadAddon, type OnednnAddon } from './native.js';

export interface RegisterOptions {
  /**
   * oneDNN (OpenMP) threads. Default: the OMP_NUM_THREADS environment variable when set, else the
   * number of CPUs this process may use.
   */
  threads?: number;
  /** Backend priority for tf.ready()'s automatic choice; default 1 (the cpu backend's). */
  priority?: number;
  /**
   * Keep freed tensor memory mapped in the process (glibc mallopt: allocations up to 32 MiB come
   * from the heap, and up to 1 GiB of freed heap is kept) instead of returning it to the kernel.
   * Every op allocates its output; with glibc's defaults each multi-megabyte output is fresh
   * memory that page-faults on first write, which costs more than the arithmetic of memory-bound
   * ops (measured: ~4.5 ms of system time per 8 MiB output). Process-wide; default true. The
   * price is a resident size that stays near its peak.
   */
  retainFreedMemory?: boolean;
  /**
   * Bytes of disposed tensors' arrays kept for reuse by later outputs of the same size (see
   * BufferPool); default 2 GiB or a quarter of the machine's memory, 0 disables reuse. Read when
   * the backend is first created.
   */
  bufferPoolBytes?: number;
}

const allocationsFromHeapUpTo = 32 * 1024 * 1024;
const freedMemoryKept = 1024 * 1024 * 1024;

/** True when the native addon is built and loads (oneDNN present); register() then succeeds. */
export function isAvailable(): boolean {
  return addonLoads();
}

function defaultThreads(): number {
  const fromEnvironment = Number.parseInt(process.env.OMP_NUM_THREADS ?? '', 10);
  return Number.isFinite(fromEnvironment) && fromEnvironment > 0 ? fromEnvironment : availableParallelism();
}

function registerKernels(): void {
  const native = new Map(nativeKernelConfigs.map((config) => [config.kernelName, config]));
  // Start from every cpu kernel (the storage is the cpu backend's, so they run unchanged) and put
  // the oneDNN ones in their place.
  for (const config of getKernelsForBackend('cpu')) {
    if (getKernel(config.kernelName, BACKEND_NAME)) continue;
    const replacement = native.get(config.kernelName);
    registerKernel(replacement ?? { ...config, backendName: BACKEND_NAME });
  }
  for (const config of [...nativeKernelConfigs, ...extraKernelConfigs]) {
    if (!getKernel(config.kernelName, BACKEND_NAME)) registerKernel(config);
  }
}

const reluGradientMarker = Symbol.for('@mlaan/backend-onednn/relu-gradient');

/**
 * Points Relu's gradient at this backend's one-pass kernel while onednn is the active backend;
 * with any other backend it runs the gradient that was registered before (tfjs's
 * mul(dy, step(x))), so other backends see no change. Gradients are process-wide in tfjs, hence
 * the delegation rather than a replacement.
 */
function installReluGradient(): void {
  const previous = getGradient(Relu);
  if (!previous || (previous as unknown as Record<symbol, boolean>)[reluGradientMarker]) return;
  const config: GradConfig = {
    kernelName: Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [Tensor];
      const gradient = dy as Tensor;
      if (x.dtype === 'float32' && gradient.dtype === 'float32' && getKernel(ReluGrad, getBackend())) {
        return { x: () => engine().runKernel(ReluGrad, { dy: gradient, x }) as Tensor };
      }
      return previous.gradFunc(dy, saved, attrs);
    },
  };
  (config as unknown as Record<symbol, boolean>)[reluGradientMarker] = true;
  registerGradient(config);
}

/**
 * Registers the 'onednn' TensorFlow.js backend and its kernels, and returns its name; select it
 * with `await tf.setBackend('onednn')`. Safe to call more than once. Throws OnednnUnavailableError
 * (naming libdnnl-dev and `npm rebuild @mlaan/backend-onednn`) when the native addon cannot load.
 */
export async function register(options: RegisterOptions = {}): Promise<string> {
  const addon: OnednnAddon = loadAddon();
  addon.setNumThreads(options.threads ?? defaultThreads());
  if (options.retainFreedMemory ?? true) addon.retainFreedMemory(allocationsFromHeapUpTo, freedMemoryKept);
  if (!findBackendFactory(BACKEND_NAME)) {
    registerBackend(
      BACKEND_NAME,
      () => new OnednnBackend(addon, options.bufferPoolBytes ?? DEFAULT_BUFFER_POOL_BYTES),
      options.priority ?? 1,
    );
  }
  registerKernels();
  installReluGradient();
  return BACKEND_NAME;
}
