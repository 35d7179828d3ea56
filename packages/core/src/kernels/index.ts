export { kernelWithFallback, type DecliningKernelFunc, type KernelWithFallbackOptions } from './kernel-fallback.js';
export { createConv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
export { createConv2DBackpropInputConfig } from './conv2d-backprop-input.js';
export { createTileConfig } from './tile.js';
export { createStagedMeanConfig, createStagedSumConfig } from './reduction.js';
export {
  createTrainingKernels,
  registerTrainingKernels,
  registerWasmTrainingKernels,
  registerCpuTrainingKernels,
  cpuTrainingKernels,
  replacedKernel,
  wasmTrainingKernels,
  hostMemoryStepKernels,
} from './training-kernels.js';
export { createSelectByFlagConfig } from './select-by-flag.js';
export { createSgdUpdateConfig } from './sgd-update.js';
export { createTotalSumConfig } from './total-sum.js';
export { createRunningStatisticsConfig } from './running-statistics.js';
