export { createConv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
export { createConv2DBackpropInputConfig } from './conv2d-backprop-input.js';
export { createTileConfig } from './tile.js';
export {
  createTrainingKernels,
  registerTrainingKernels,
  registerWasmTrainingKernels,
  replacedKernel,
  wasmTrainingKernels,
} from './training-kernels.js';
