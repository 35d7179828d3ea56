export * from './resnet.js';
