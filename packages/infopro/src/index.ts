export { infoPro, infoProSplit, InfoProHead } from './infopro.js';
export type { InfoProConfig, InfoProOptions, InfoProTask, InfoProLossParts } from './infopro.js';
export { InfoProConfigError, UndefinedLambdaError } from './errors.js';
export {
  interpolateLambda,
  LAMBDA_PRESETS,
  MLAAN_LAMBDA,
  INFOPRO_DATASETS,
  paperLambda,
  validateLambda,
} from './lambda.js';
export type { InfoProDataset, Lambda, LambdaPreset, LambdaRequest, ModuleWeights } from './lambda.js';
export { binaryCrossEntropyWithLogits, l2Normalize, supervisedContrastiveLoss } from './losses.js';
export type { SupervisedContrastiveOptions } from './losses.js';
export { AUX_HEAD_CONFIGS, buildAuxHead, InfoProDecoder } from './networks.js';
export type { AuxHeadName, AuxHeadOptions, Interpolation } from './networks.js';
