export { main, createProgram, EXIT, DEFAULT_OUT_DIR } from './cli/program.js';
export { resolveSettings, validateSettings } from './configuration/resolve-settings.js';
export { expandGrid } from './configuration/grid.js';
export { moduleCount, optionsOfConfig, splitOf } from './configuration/configuration-facts.js';
export { configId, stableStringify } from './configuration/configuration-id.js';
export { methodLabel, runLabel } from './configuration/labels.js';
export { learningRateSchedule, peakLearningRate, warmupWarning } from './configuration/schedules.js';
export {
  paperRecipe,
  defaultRecipe,
  defaultSettings,
  BACKEND_CHOICES,
  SCHEDULES,
  SPLIT_VARIANTS,
  MLAAN_PROFILE_NAMES,
  type Settings,
  type Recipe,
  type KValue,
  type BackendName,
  type GridRow,
  type RunConfig,
} from './configuration/settings.js';
export {
  FRAMEWORKS,
  FRAMEWORK_NAMES,
  frameworkDefinition,
  type FrameworkDefinition,
  type FrameworkName,
  type FrameworkOptionValues,
  type PluginBuildContext,
} from './registry/frameworks.js';
export { hostOption, hostOptionFlag, type HostOptionDefinition } from './registry/host-options.js';
export { PLUGIN_SETS, PLUGIN_SET_NAMES, type PluginSetDefinition, type PluginSetName } from './registry/plugin-sets.js';
export { PRESETS, PRESET_NAMES, type PresetDefinition, type PresetName } from './registry/presets.js';
export { PUBLISHED, findPublished, type PublishedNumber } from './registry/published.js';
export { activateBackend, backendMemoryFields, type ActiveBackend } from './backend.js';
export { trainConfiguration, type TrainOptions } from './training/train-configuration.js';
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
  type PipelineSummary,
} from './results/result-format.js';
export { assembleRunResult, type FinishedRun } from './results/run-result.js';
export { trainerStateBytes, parameterCounts } from './training/memory.js';
export { runGrid, type ExecutionOptions, type GridOutcome } from './runner.js';
export { readAllResults, runFolderName, runsFolder } from './results/results-folder.js';
export { createReporter, EtaEstimator, type Reporter, type ProgressMode, type TrainingObserver, type StepProgress } from './progress.js';
export { aggregate, statistic, type Section, type Summary, type Statistic } from './results/aggregate.js';
export { writeReports, type ReportContext } from './results/report.js';
export { pluginEffects, describeEffect, effectsTable, mainJobSummary, latestSectionRuns, type PluginEffect } from './results/comparison.js';
export { sectionCharts, renderSvg } from './results/charts.js';
export { BenchOptionError, PluginPackageError, ResultsFolderError } from './errors.js';
