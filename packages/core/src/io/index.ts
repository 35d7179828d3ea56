export * from './safetensors.js';
export * from './checkpoint.js';
export * from './pytorch-export.js';
export * from './layers-model.js';
