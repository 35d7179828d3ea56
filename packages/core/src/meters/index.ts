export * from './meters.js';
