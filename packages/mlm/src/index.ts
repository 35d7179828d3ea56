export {
  MlmError,
  MLM_PROFILES,
  mlm,
  resolveMlmOptions,
  cascadeTerms,
  cascadeTermName,
  forwardsPerModule,
  batchNorms,
} from './mlm.js';
export type { MlmConfig, MlmOptions, MlmProfile, MlmProfileName, ShortWindowRule, LastLossRule, RunningStatisticsRule } from './mlm.js';
