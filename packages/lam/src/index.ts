export { LamError, LEAP_TABLES, findLeapTable, leapRule, leapBlocksFor, resolveLeapBlocks } from './leap.js';
export type { LeapBlock, LeapTable } from './leap-table.js';
export type { LeapRuleOptions, LeapListOptions } from './leap.js';
export { IMAGENET_LEAP_TABLES } from './imagenet-leap-tables.js';
export { LAM_PROFILES, LeapNetwork, LeapHead, lam, leapOutputShape, resolveLamOptions, servesHead } from './lam.js';
export type {
  LamConfig,
  LamOptions,
  LamPlugin,
  LamProfile,
  LamProfileName,
  EmaUpdateRule,
  LeapTarget,
  LeapBlocksOption,
  LeapListRequest,
} from './lam.js';
