import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { createConv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { createConv2DBackpropInputConfig } from './conv2d-backprop-input.js';
import { createStagedMeanConfig, createStagedSumConfig } from './reduction.js';
import { createTileConfig } from './tile.js';
import { createSharingIdentityConfig } from './identity.js';
import { createSelectByFlagConfig } from './select-by-flag.js';

interface KernelBookkeeping {
  /** Kernels that registerTrainingKernels replaced, so that composed kernels can still delegate to them. */
  replaced: Map<string, KernelConfig>;
  composed: WeakSet<KernelConfig>;
}

/**
 * tfjs keeps its kernel registry on `globalThis`, shared by every copy of tfjs-core in a process;
 * what was replaced there must live as long. A second copy of this module (a bundle, a test
 * runner's fresh module graph per file) would otherwise find the composed kernels registered and
 * the kernels they replaced lost, and their fallbacks would have nothing to hand back to.
 */
const BOOKKEEPING_KEY = Symbol.for('@mlaan/core/training-kernels');
const bookkeeping: KernelBookkeeping = ((globalThis as { [BOOKKEEPING_KEY]?: KernelBookkeeping })[BOOKKEEPING_KEY] ??= {
  replaced: new Map(),
  composed: new WeakSet(),
});
const replacedKernels = bookkeeping.replaced;
const composedKernels = bookkeeping.composed;

function kernelKey(kernelName: string, backendName: string): string {
  return `${backendName}/${kernelName}`;
}

/** The kernel a composed kernel replaced on `backendName`, if registerTrainingKernels replaced one. */
export function replacedKernel(kernelName: string, backendName: string): KernelConfig | undefined {
  return replacedKernels.get(kernelKey(kernelName, backendName));
}

/**
 * Kernels composed from a backend's fast forward kernels, for backends whose own versions are
 * missing or slow (tfjs-backend-wasm 4.x: Conv2DBackpropFilter is missing, Conv2DBackpropInput
 * and Tile are scalar loops, Identity copies where it could share). They need Conv2D, Transpose, Reverse, Slice, PadV2, Reshape, Fill
 * and Add from the backend.
 */
export function createTrainingKernels(backendName: string): KernelConfig[] {
  const fallback = (kernelName: string) => () => replacedKernel(kernelName, backendName);
  const kernels = [
    createConv2DBackpropFilterConfig(backendName),
    createConv2DBackpropInputConfig(backendName, fallback('Conv2DBackpropInput')),
    createTileConfig(backendName, fallback('Tile')),
    createStagedSumConfig(backendName, fallback('Sum')),
    createStagedMeanConfig(backendName, fallback('Mean')),
    createSharingIdentityConfig(backendName, fallback('Identity')),
    createSelectByFlagConfig(backendName),
  ];
  for (const kernel of kernels) composedKernels.add(kernel);
  return kernels;
}

/** The composed training kernels for the wasm backend. */
export const wasmTrainingKernels: readonly KernelConfig[] = createTrainingKernels('wasm');

/**
 * Registers `kernels`, replacing whatever the backend registered under the same names (the
 * replaced kernels stay reachable for the cases a composed kernel hands back). Idempotent:
 * kernels that are already registered are left alone, so no duplicate-registration warnings.
 * Call it after importing the backend package: a backend registers its kernels on import and
 * would otherwise replace these.
 */
export function registerTrainingKernels(kernels: readonly KernelConfig[]): void {
  for (const config of kernels) {
    const registered = getKernel(config.kernelName, config.backendName);
    if (registered === config) continue;
    if (registered != null) {
      if (!composedKernels.has(registered)) {
        replacedKernels.set(kernelKey(config.kernelName, config.backendName), registered);
      }
      unregisterKernel(config.kernelName, config.backendName);
    }
    // Another package's composed kernel (a backend package's) is never taken for the one it replaced.
    composedKernels.add(config);
    registerKernel(config);
  }
}

/**
 * Adds the wasm backend's missing Conv2DBackpropFilter and replaces its slow Conv2DBackpropInput
 * and Tile with versions built on XNNPACK's Conv2D and broadcasting Add. Import
 * '@tensorflow/tfjs-backend-wasm' first.
 */
export function registerWasmTrainingKernels(): void {
  registerTrainingKernels(wasmTrainingKernels);
}

/**
 * The cpu backend's own Conv2DBackpropFilter is a scalar loop about 40x slower than its Conv2D
 * (18 s for one ResNet-32 stage-1 layer at batch 16); the composed version runs on Conv2D.
 * Its other kernels are already as fast as their compositions would be.
 */
export const cpuTrainingKernels: readonly KernelConfig[] = [createConv2DBackpropFilterConfig('cpu'), createSelectByFlagConfig('cpu')];

/** Replaces the cpu backend's slow Conv2DBackpropFilter. Import '@tensorflow/tfjs-backend-cpu' first. */
export function registerCpuTrainingKernels(): void {
  registerTrainingKernels(cpuTrainingKernels);
}
