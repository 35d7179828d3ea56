import type { KernelConfig } from '@tensorflow/tfjs-core';

import { convolutionKernels } from './convolution.js';
import { elementwiseKernels, extraElementwiseKernels } from './elementwise.js';
import { layoutKernels } from './layout.js';
import { matmulKernels } from './matmul.js';
import { normalizationKernels } from './normalization.js';
import { poolingKernels } from './pooling.js';
import { reductionKernels } from './reduction.js';

/** Every kernel the onednn backend runs on oneDNN (each falls back to the cpu kernel per case). */
export const nativeKernelConfigs: KernelConfig[] = [
  ...convolutionKernels,
  ...matmulKernels,
  ...poolingKernels,
  ...elementwiseKernels,
  ...reductionKernels,
  ...layoutKernels,
];

/** Kernels with no cpu counterpart (project-specific fused ops). */
export const extraKernelConfigs: KernelConfig[] = [...normalizationKernels, ...extraElementwiseKernels];

export { ReluGrad } from './elementwise.js';
export { kernelCounts, resetKernelCounts, type KernelCounts } from './native-kernel.js';
