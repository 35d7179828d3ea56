export { dgl, DglConfigError } from './dgl.js';
export type { DglConfig, DglOptions } from './dgl.js';
export { ClassificationHead, DGL_HEADS } from './heads.js';
export type { DglHeadConfig, DglHeadName, DglHeadShape } from './heads.js';
export { AdaptiveAveragePool, ChannelsFirstFlatten, adaptivePoolMatrix } from './layers.js';
