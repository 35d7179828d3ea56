import { createHash } from 'node:crypto';
import { stableStringify } from '../configuration/configuration-id.js';
import { optionsOfConfig } from '../configuration/configuration-facts.js';
import type { RunConfig } from '../configuration/settings.js';
import type { KValue } from '../configuration/settings.js';
import { FRAMEWORK_NAMES, frameworkDefinition } from '../registry/frameworks.js';
import { PLUGIN_SET_NAMES } from '../registry/plugin-sets.js';
import { findPublished } from '../registry/published.js';
import type { RunResult } from './result-format.js';

export interface Statistic {
  mean: number;
  /** Sample standard deviation (n - 1); NaN for a single run. */
  std: number;
  n: number;
}

/** One method at one K, over its seeds. */
export interface Summary {
  section: string;
  method: string;
  framework: RunConfig['framework'];
  plugins: RunConfig['plugins'];
  K: KValue;
  modules: number;
  seeds: number[];
  ids: string[];
  epochs: number;
  bestErrorPercent: Statistic;
  lastErrorPercent: Statistic;
  /** The training step's own peak (trainer state + what the step allocates), as mlaan-cost measures it; per worker for pipelined runs. */
  stepMemoryMiB: Statistic;
  /** Worker counts of the pipelined runs among these (their step memory is the largest worker's); empty when all are sequential. */
  stepMemoryWorkers: number[];
  /** What the input pipeline holds: the datasets in host memory plus tensors alive outside the trainer. */
  dataMiB: Statistic;
  peakRssMiB: Statistic;
  backboneParameters: number;
  auxiliaryParameters: number;
  imagesPerSecond: Statistic;
  wallSeconds: Statistic;
  diverged: number;
  tensorBytesOnGpu: boolean;
  published: {
    testErrorPercent?: number;
    testErrorSource?: string;
    gpuMemoryGB?: number;
    gpuMemorySource?: string;
  };
}

/** Runs that share everything but method, K, seed and epochs: one table, one set of charts. */
export interface Section {
  key: string;
  /** `cifar10 · resnet32 · batch 64 · lr 0.05 constant · 1024 train / 512 test images · wasm`. */
  title: string;
  /** File-name prefix of the section's charts: dataset, network and a hash of the settings. */
  slug: string;
  dataset: string;
  network: string;
  config: Omit<RunConfig, 'framework' | 'plugins' | 'K' | 'seed' | 'epochs' | 'frameworkOptions'>;
  summaries: Summary[];
  runs: RunResult[];
  /** Column keys (module counts), ascending; 1 is E2E. */
  columns: number[];
}

/**
 * The published test errors (registry/published.ts) come from runs of 160 epochs (the InfoPro
 * paper; the MLAAN paper trains 400) on the full training set, evaluated on the full test set.
 */
export const PAPER_PROTOCOL = { minimumEpochs: 160, description: 'the papers’ protocol: 160–400 epochs on the full training set' } as const;

/** Whether a section trained like the papers, so that their test errors may stand beside its own. */
export function trainedLikeThePapers(section: Pick<Section, 'config' | 'runs'>): boolean {
  return (
    section.config.trainLimit === null &&
    section.config.testLimit === null &&
    section.runs.every((run) => run.config.epochs >= PAPER_PROTOCOL.minimumEpochs)
  );
}

/** JSON turns NaN into null; read such fields back as NaN. */
export function numberOrNaN(value: unknown): number {
  return typeof value === 'number' ? value : NaN;
}

/** A run's step memory column: its step peak (the largest worker's with `--workers`), NaN when no step was measured. */
export function stepPeakBytes(run: RunResult): number {
  return run.memory.step.sampledSteps > 0 ? numberOrNaN(run.memory.step.stepPeakBytes) : NaN;
}

/** Workers of a pipelined run (its step memory is per worker), 1 for the sequential trainer. */
export function stepMemoryWorkers(run: RunResult): number {
  return run.memory.step.workers?.count ?? 1;
}

export function statistic(values: number[]): Statistic {
  const finite = values.filter(Number.isFinite);
  const n = finite.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = finite.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(finite.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, std, n };
}

function sectionOf(config: RunConfig): Section['config'] {
  // Per-method fields (the hosts' own options) stay out of the section key.
  const { framework: _f, plugins: _p, K: _k, seed: _s, epochs: _e, frameworkOptions: _o, ...rest } = config;
  return rest;
}

/** The host options that change what a section's rows mean (InfoPro's task), as its title names them. */
function titledOptions(runs: readonly RunResult[]): string[] {
  const described = runs.flatMap((run) => {
    const options = optionsOfConfig(run.config);
    return Object.entries(frameworkDefinition(run.config.framework).options)
      .filter(([name, option]) => option.inSectionTitle && options[name] !== undefined)
      .map(([name, option]) => option.describe(options[name]));
  });
  return [...new Set(described)];
}

function describeSection(config: Section['config'], backends: string[], hostOptions: string[]): string {
  const schedule = config.schedule === 'cosine-warmup' ? `cosine, ${config.warmupEpochs}-epoch warm-up` : config.schedule;
  const images =
    config.trainLimit === null && config.testLimit === null
      ? 'full dataset'
      : `${config.trainLimit ?? 'all'} train / ${config.testLimit ?? 'all'} test images`;
  return [
    config.dataset,
    config.network,
    `batch ${config.batchSize}`,
    `lr ${config.learningRate} (${schedule})`,
    images,
    ...(config.split === 'balanced' ? ['balanced split'] : []),
    ...(config.mlaanProfile !== 'paper' ? [`MLAAN profile ${config.mlaanProfile}`] : []),
    ...hostOptions,
    backends.join('+'),
  ].join(' · ');
}

function methodOrder(summary: Pick<Summary, 'framework' | 'plugins'>): number {
  return FRAMEWORK_NAMES.indexOf(summary.framework) * 10 + PLUGIN_SET_NAMES.indexOf(summary.plugins);
}

/** Groups runs into sections and, within each, into one summary per (method, K) over seeds. */
export function aggregate(runs: readonly RunResult[]): Section[] {
  const sections = new Map<string, { config: Section['config']; runs: RunResult[] }>();
  for (const run of runs) {
    const config = sectionOf(run.config);
    const key = stableStringify(config);
    const entry = sections.get(key) ?? { config, runs: [] };
    entry.runs.push(run);
    sections.set(key, entry);
  }
  return [...sections.entries()].map(([key, { config, runs: sectionRuns }]) => {
    const groups = new Map<string, RunResult[]>();
    for (const run of sectionRuns) {
      const groupKey = `${run.method}/${run.config.K}/${run.config.epochs}`;
      groups.set(groupKey, [...(groups.get(groupKey) ?? []), run]);
    }
    const backends = [...new Set(sectionRuns.map((run) => run.backend.choice))];
    const title = describeSection(config, backends, titledOptions(sectionRuns));
    const summaries = [...groups.values()].map((group) => summarise(title, group)).sort((a, b) => methodOrder(a) - methodOrder(b) || a.modules - b.modules);
    return {
      key,
      title,
      // Readable and short: sections of one dataset and network differ by the hash of their settings.
      slug: `${config.dataset}-${config.network}-${createHash('sha256').update(key).digest('hex').slice(0, 6)}`,
      dataset: config.dataset,
      network: config.network,
      config,
      summaries,
      runs: [...sectionRuns].sort((a, b) => methodOrder(a.config) - methodOrder(b.config) || a.modules - b.modules || a.config.seed - b.config.seed),
      columns: [...new Set(summaries.map((s) => s.modules))].sort((a, b) => a - b),
    };
  });
}

function summarise(section: string, runs: RunResult[]): Summary {
  const first = runs[0]!;
  const { config } = first;
  const mib = (bytes: unknown) => numberOrNaN(bytes) / 2 ** 20;
  const published = findPublished({
    dataset: config.dataset,
    network: config.network,
    method: first.method,
    K: first.modules,
    batchSize: config.batchSize,
    split: config.split,
    frameworkOptions: optionsOfConfig(config),
  });
  return {
    section,
    method: first.method,
    framework: config.framework,
    plugins: config.plugins,
    K: config.K,
    modules: first.modules,
    seeds: runs.map((run) => run.config.seed).sort((a, b) => a - b),
    ids: runs.map((run) => run.id),
    epochs: config.epochs,
    bestErrorPercent: statistic(runs.map((run) => numberOrNaN(run.testErrorPercent.best))),
    lastErrorPercent: statistic(runs.map((run) => numberOrNaN(run.testErrorPercent.last))),
    stepMemoryMiB: statistic(runs.map((run) => mib(stepPeakBytes(run)))),
    stepMemoryWorkers: [...new Set(runs.map(stepMemoryWorkers).filter((workers) => workers > 1))],
    dataMiB: statistic(runs.map((run) => mib(run.memory.data.datasetBytes + run.memory.data.tensorsOutsideTrainerBytes))),
    peakRssMiB: statistic(runs.map((run) => mib(run.memory.process.peakRssBytes))),
    backboneParameters: first.parameters.backbone,
    auxiliaryParameters: first.parameters.auxiliary,
    imagesPerSecond: statistic(runs.map((run) => numberOrNaN(run.throughput.imagesPerSecond))),
    wallSeconds: statistic(runs.map((run) => numberOrNaN(run.wallSeconds))),
    diverged: runs.filter((run) => run.status === 'diverged').length,
    tensorBytesOnGpu: runs.some((run) => run.memory.step.tensorBytesOnGpu),
    published: {
      testErrorPercent: published.testErrorPercent?.testErrorPercent,
      testErrorSource: published.testErrorPercent?.source,
      gpuMemoryGB: published.gpuMemoryGB?.gpuMemoryGB,
      gpuMemorySource: published.gpuMemoryGB?.source,
    },
  };
}
