// tfjs-core registers gradient functions only on request; local training needs all of them.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';

export * from './errors.js';
export * from './random.js';
export * from './layers/index.js';
export * from './ops/batch-norm.js';
export * from './ops/resize-conv.js';
export * from './ops/sgd-update.js';
export * from './ops/total-sum.js';
export * from './backbone/index.js';
export * from './training/index.js';
export * from './io/index.js';
export * from './meters/index.js';
export * from './backend/index.js';
export * from './kernels/index.js';
export * from './pipeline/index.js';
