export { main, createProgram, EXIT, DEFAULT_OUT_DIR } from './program.js';
export {
  resolveSettings,
  validateSettings,
  expandGrid,
  configId,
  methodLabel,
  learningRateSchedule,
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
export { PRESETS, PRESET_NAMES, paperRecipe, type PresetDefinition, type PresetName } from './registry/presets.js';
export { PUBLISHED, findPublished, type PublishedNumber } from './registry/published.js';
export { activateBackend, backendMemoryFields, type ActiveBackend } from './backend.js';
export { trainConfiguration, moduleCount, type RunResult, type EpochRecord, type LossPoint, type TrainOptions, type TrainingObserver } from './train.js';
export { runGrid, readAllResults, readResult, type ExecutionOptions, type GridOutcome } from './runner.js';
export { createReporter, type Reporter, type ProgressMode } from './progress.js';
export { aggregate, statistic, type Section, type Summary, type Statistic } from './results/aggregate.js';
export { writeReports, type ReportContext } from './results/report.js';
export { sectionCharts, renderSvg } from './results/charts.js';
export { BenchOptionError, PluginPackageError, ResultsFolderError } from './errors.js';
