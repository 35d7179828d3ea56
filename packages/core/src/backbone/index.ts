export * from './backbone.js';
export * from './partition.js';
export * from './splits.js';
