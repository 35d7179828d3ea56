import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { createConv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { createConv2DBackpropInputConfig } from './conv2d-backprop-input.js';
import { createStagedMeanConfig, createStagedSumConfig } from './reduction.js';
import { createTileConfig } from './tile.js';
import { createSharingIdentityConfig } from './identity.js';
import { createSelectByFlagConfig } from './select-by-flag.js';
import { createSgdUpdateConfig } from './sgd-update.js';
import { createTotalSumConfig } from './total-sum.js';
import { createRunningStatisticsConfig } from './running-statistics.js';

/** Kernels that registerTrainingKernels replaced, so that composed kernels can still delegate to them. */
const replacedKernels = new Map<string, KernelConfig>();
const composedKernels = new WeakSet<KernelConfig>();

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
    ...hostMemoryStepKernels(backendName),
  ];
  for (const kernel of kernels) composedKernels.add(kernel);
  return kernels;
}

/**
 * The training step's own kernels for a backend whose tensors live in host memory (cpu, wasm,
 * onednn): its commit by reference, the optimizer's update, the gradient check and batch norm's
 * running statistics in one pass each, where the element-wise versions cost one dispatch per tensor and operation (~1,000 a
 * ResNet-32 step). Device backends (webgpu) keep the element-wise versions.
 */
export function hostMemoryStepKernels(backendName: string): KernelConfig[] {
  return [
    createSelectByFlagConfig(backendName),
    createSgdUpdateConfig(backendName),
    createTotalSumConfig(backendName),
    createRunningStatisticsConfig(backendName),
  ];
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
export const cpuTrainingKernels: readonly KernelConfig[] = [createConv2DBackpropFilterConfig('cpu'), ...hostMemoryStepKernels('cpu')];

/** Replaces the cpu backend's slow Conv2DBackpropFilter. Import '@tensorflow/tfjs-backend-cpu' first. */
export function registerCpuTrainingKernels(): void {
  registerTrainingKernels(cpuTrainingKernels);
}
