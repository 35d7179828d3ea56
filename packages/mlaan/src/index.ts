export { withMLAAN, mlaan, MlaanOptionsError, MLAAN_PROFILES } from './mlaan.js';
export type { MlaanOptions, MlaanProfileName } from './mlaan.js';
export { mlm, MlmError, MLM_PROFILES } from '@mlaan/mlm';
export type { MlmOptions } from '@mlaan/mlm';
export { lam, LamError, LAM_PROFILES, leapBlocksFor } from '@mlaan/lam';
export type { LamOptions, LamPlugin, LeapBlock } from '@mlaan/lam';
