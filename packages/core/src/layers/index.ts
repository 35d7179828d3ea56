export * from './layer.js';
export * from './conv2d.js';
export * from './batch-norm.js';
export * from './linear.js';
export * from './activation.js';
export * from './pooling.js';
export * from './sequential.js';
