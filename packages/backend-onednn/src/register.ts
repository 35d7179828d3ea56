import '@tensorflow/tfjs-backend-cpu';
import { availableParallelism } from 'node:os';

import { findBackendFactory, getKernel, getKernelsForBackend, registerBackend, registerKernel } from '@tensorflow/tfjs-core';

import { BACKEND_NAME, OnednnBackend } from './backend.js';
import { nativeKernelConfigs } from './kernels/index.js';
import { addonLoads, loadAddon, type OnednnAddon } from './native.js';

export interface RegisterOptions {
  /**
   * oneDNN (OpenMP) threads. Default: the OMP_NUM_THREADS environment variable when set, else the
   * number of CPUs this process may use.
   */
  threads?: number;
  /** Backend priority for tf.ready()'s automatic choice; default 1 (the cpu backend's). */
  priority?: number;
}

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
  for (const config of nativeKernelConfigs) {
    if (!getKernel(config.kernelName, BACKEND_NAME)) registerKernel(config);
  }
}

/**
 * Registers the 'onednn' TensorFlow.js backend and its kernels, and returns its name; select it
 * with `await tf.setBackend('onednn')`. Safe to call more than once. Throws OnednnUnavailableError
 * (naming libdnnl-dev and `npm rebuild @mlaan/backend-onednn`) when the native addon cannot load.
 */
export async function register(options: RegisterOptions = {}): Promise<string> {
  const addon: OnednnAddon = loadAddon();
  addon.setNumThreads(options.threads ?? defaultThreads());
  if (!findBackendFactory(BACKEND_NAME)) {
    registerBackend(BACKEND_NAME, () => new OnednnBackend(addon), options.priority ?? 1);
  }
  registerKernels();
  return BACKEND_NAME;
}
