export * from './plugin.js';
export { PluginHost, orderPlugins, headKey } from './plugin-host.js';
export * from './term-plan.js';
export * from './activation-memory.js';
export * from './head-gradients.js';
export * from './batch-checks.js';
export * from './trainer.js';
export * from './training-step.js';
export * from './step-engine.js';
export * from './step-result.js';
export { GradientCheck, stepVerdict, badLabelCount } from './step-verdict.js';
export type { StepVerdict, VerdictLayout } from './step-verdict.js';
export { VariableJournal } from './variable-journal.js';
export { backwardSchedule, runSchedule, delayedCotangentPass } from './backward-schedules.js';
export type { Schedule, ScheduleRequest } from './backward-schedules.js';
export * from './optimizer.js';
export * from './learning-rate-schedules.js';
export * from './losses.js';
export * from './heads.js';
export { definePlugin, defineOptions, nearestName, option, rebuildPlugin, rejectUnknownOptions } from './define-plugin.js';
export type {
  ConfigOf,
  OptionRule,
  OptionRules,
  OptionsDefinition,
  OptionsOf,
  OptionsResolver,
  PluginConfig,
  PluginFactory,
  PluginOptions,
  RangeOptions,
} from './define-plugin.js';
