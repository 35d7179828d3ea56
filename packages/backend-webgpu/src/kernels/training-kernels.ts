import type { KernelConfig } from '@tensorflow/tfjs-core';
import { registerTrainingKernels, replacedKernel } from '@mlaan/core';
import { createGroupedAddNConfig } from './add-n.js';
import { createChunkedConv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';

const BACKEND = 'webgpu';

/**
 * The training kernels this package puts in place of tfjs 4.22's WebGPU ones. Every kernel a
 * training step of this library's layers and heads dispatches exists in tfjs's WebGPU backend and
 * matches the cpu backend (layers.test.ts); what it gets wrong: AddN of more inputs than a shader
 * can bind (an invalid pipeline, see add-n.ts), and the speed of Conv2DBackpropFilter, which
 * does not spread its work over the GPU (see conv2d-backprop-filter.ts).
 */
export const webGpuTrainingKernels: readonly KernelConfig[] = [
  createGroupedAddNConfig(BACKEND, () => replacedKernel('AddN', BACKEND)),
  createChunkedConv2DBackpropFilterConfig(BACKEND, () => replacedKernel('Conv2DBackpropFilter', BACKEND)),
];

/**
 * Registers them (core's registerTrainingKernels: the replaced kernels stay reachable for the cases
 * these hand back). Call after @tensorflow/tfjs-backend-webgpu is imported.
 */
export function registerWebGpuTrainingKernels(): void {
  registerTrainingKernels(webGpuTrainingKernels);
}
