export { augLocal, featurePosition } from './auglocal.js';
export type { AugLocalConfig, AugLocalOptions } from './auglocal.js';
export { AugLocalConfigError } from './errors.js';
export { augLocalCuts } from './partition.js';
export { AuxiliaryNetworkHead } from './auxiliary-head.js';
export { auxiliaryBlock, buildAuxiliaryNetwork } from './auxiliary-network.js';
export type { AuxiliaryNetworkShape } from './auxiliary-network.js';
export { auxiliaryBlocks, pyramidDepths, roundHalfToEven, selectSubsequentLayers } from './layer-selection.js';
export type { AuxiliaryBlockPlan } from './layer-selection.js';
