export { main, createProgram, EXIT, DEFAULT_OUT_DIR } from './program.js';
export {
  resolveSettings,
  validateSettings,
  expandGrid,
  configId,
  methodLabel,
  learningRateSchedule,
  warmupWarning,
  stableStringify,
  BACKEND_CHOICES,
  SCHEDULES,
  SPLIT_VARIANTS,
  MLAAN_PROFILE_NAMES,
  type Settings,
  type RunConfig,
  type KValue,
  type BackendName,
} from './config.js';
export { FRAMEWORKS, FRAMEWORK_NAMES, type FrameworkDefinition, type FrameworkName, type PluginBuildContext } from './registry/frameworks.js';
export { PLUGIN_SETS, PLUGIN_SET_NAMES, type PluginSetDefinition, type PluginSetName } from './registry/plugin-sets.js';
export { PRESETS, PRESET_NAMES, type PresetDefinition, type PresetName } from './registry/presets.js';
export { paperRecipe, defaultSettings, DGL_HEAD_NAMES, INFOPRO_AUX_HEAD_NAMES, type GridRow } from './settings.js';
export { PUBLISHED, findPublished, type PublishedNumber } from './registry/published.js';
export { activateBackend, backendMemoryFields, type ActiveBackend } from './backend.js';
export { trainConfiguration, moduleCount, type TrainOptions } from './train.js';
export {
  readResult,
  writeResult,
  RESULT_FILE,
  RESULT_FORMAT,
  RESULT_VERSION,
  type RunResult,
  type EpochRecord,
  type LossPoint,
  type ParameterCounts,
  type StepMemory,
  type DataMemory,
  type Provenance,
} from './results/result-format.js';
export { trainerStateBytes, parameterCounts } from './memory.js';
export { runGrid, readAllResults, type ExecutionOptions, type GridOutcome } from './runner.js';
export { createReporter, EtaEstimator, type Reporter, type ProgressMode, type TrainingObserver, type StepProgress } from './progress.js';
export { aggregate, statistic, type Section, type Summary, type Statistic } from './results/aggregate.js';
export { writeReports, type ReportContext } from './results/report.js';
export { pluginEffects, describeEffect, effectsTable, mainJobSummary, latestSectionRuns, type PluginEffect } from './results/comparison.js';
export { sectionCharts, renderSvg } from './results/charts.js';
export { BenchOptionError, PluginPackageError, ResultsFolderError } from './errors.js';
