import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { datasetSpecs, type DatasetName } from '@mlaan/data';
import { stableStringify } from '../configuration/configuration-id.js';
import { runLabel } from '../configuration/labels.js';
import { BACKEND_CHOICES, type RunConfig } from '../configuration/settings.js';
import { readableDuration } from '../duration.js';
import type { RunResult } from '../results/result-format.js';
import { type FoundRun, findRuns } from '../results/results-folder.js';

/**
 * How long a configuration trains, from the speed a finished run of the same method measured:
 * the seconds per training image of that run's whole wall time outside evaluation (so data
 * loading, checkpoints, memory-profiled steps and start-up count, not only the steps' own speed
 * of `throughput.imagesPerSecond`) and the seconds per test image of its evaluations, scaled to
 * this configuration's images and epochs.
 */
export interface RowEstimate {
  config: RunConfig;
  seconds: number;
  /** The measured run it comes from. */
  source: FoundRun;
  /** How closely that run matches: the same configuration but seed, the same method and K, or the nearest K. */
  match: 'same settings' | 'same method and K' | 'nearest K';
  trainSecondsPerImage: number;
  evalSecondsPerImage: number;
}

export type RowEstimateOutcome = RowEstimate | { config: RunConfig; missing: string };

/** The images a configuration trains on and is tested on per epoch. */
export function imagesOf(config: RunConfig): { train: number; test: number } {
  const published = datasetSpecs[config.dataset as DatasetName].images;
  return { train: Math.min(config.trainLimit ?? Infinity, published.train), test: Math.min(config.testLimit ?? Infinity, published.test) };
}

/** Load per core when the run finished (1-minute average): the quietest measurement is the closest to a dedicated node. */
function loadPerCore(result: RunResult): number {
  return (result.machine.loadAverage?.[0] ?? 0) / Math.max(1, result.machine.cores);
}

/** The backends `config` may run on, in the order `auto` tries them. */
function backendsFor(config: RunConfig): string[] {
  return config.backend === 'auto' ? BACKEND_CHOICES.filter((choice) => choice !== 'auto') : [config.backend];
}

function costOf(result: RunResult): { train: number; eval: number } | undefined {
  const epochs = result.epochs.length;
  if (epochs === 0 || result.trainImages <= 0 || result.testImages <= 0 || !(result.wallSeconds > 0)) return undefined;
  return { train: (result.wallSeconds - result.evalSeconds) / (epochs * result.trainImages), eval: result.evalSeconds / (epochs * result.testImages) };
}

/**
 * The estimate of one configuration from `measured` runs: among those of the same network,
 * dataset and backend (for `auto`, the first backend in auto's order that has measurements), the
 * closest match (same settings but the seed; then the same framework, plugins and K; then the
 * same framework and plugins at the nearest K), and of those one with the same host options, measured
 * at the lowest load.
 */
export function estimateRow(config: RunConfig, measured: readonly FoundRun[]): RowEstimateOutcome {
  const comparable = measured.filter(({ result }) => result.config.network === config.network && result.config.dataset === config.dataset && result.status === 'completed' && costOf(result));
  const backend = backendsFor(config).find((name) => comparable.some(({ result }) => result.backend.choice === name));
  if (!backend) {
    const measuredBackends = [...new Set(comparable.map(({ result }) => result.backend.choice))];
    return {
      config,
      missing: `no finished run of ${config.network} on ${config.dataset} was measured on ${config.backend === 'auto' ? 'any backend' : `the ${config.backend} backend`}${measuredBackends.length > 0 ? ` (only on ${measuredBackends.join(', ')})` : ''}`,
    };
  }
  const candidates = comparable.filter(({ result }) => result.backend.choice === backend && result.config.framework === config.framework && result.config.plugins === config.plugins);
  const settingsOf = (c: RunConfig) => stableStringify({ ...c, seed: 0, epochs: 0, trainLimit: null, testLimit: null, backend: null });
  const rungs: [RowEstimate['match'], (found: FoundRun) => boolean][] = [
    ['same settings', ({ result }) => settingsOf(result.config) === settingsOf(config)],
    ['same method and K', ({ result }) => result.config.K === config.K],
  ];
  if (typeof config.K === 'number') {
    const numeric = candidates.filter(({ result }) => typeof result.config.K === 'number');
    const nearest = Math.min(...numeric.map(({ result }) => Math.abs((result.config.K as number) - (config.K as number))));
    rungs.push(['nearest K', ({ result }) => typeof result.config.K === 'number' && Math.abs(result.config.K - (config.K as number)) === nearest]);
  }
  // Within a rung, a run of the same host options (DGL's head costs more or less) first, then the quietest.
  const sameOptions = ({ result }: FoundRun) => (stableStringify(result.config.frameworkOptions ?? {}) === stableStringify(config.frameworkOptions ?? {}) ? 0 : 1);
  for (const [match, accepts] of rungs) {
    const found = candidates.filter(accepts).sort((a, b) => sameOptions(a) - sameOptions(b) || loadPerCore(a.result) - loadPerCore(b.result))[0];
    if (!found) continue;
    const cost = costOf(found.result)!;
    const images = imagesOf(config);
    return {
      config,
      seconds: config.epochs * (images.train * cost.train + images.test * cost.eval),
      source: found,
      match,
      trainSecondsPerImage: cost.train,
      evalSecondsPerImage: cost.eval,
    };
  }
  return { config, missing: `no finished run of ${runLabel(config).replace(/ seed \d+$/, '')} (${config.framework} with ${config.plugins}) on ${config.network}/${config.dataset} was measured on ${backend}` };
}

/** One line on where an estimate comes from, for the script's comments. */
export function describeEstimate(estimate: RowEstimate, relativeTo: string): string {
  const { result, folder, run } = estimate.source;
  const images = imagesOf(estimate.config);
  const machine = `${result.machine.cpu}, ${result.machine.cores} cores, load ${result.machine.loadAverage?.[0] ?? '?'}`;
  return (
    `${runLabel(estimate.config)}: ${readableDuration(estimate.seconds)} = ${estimate.config.epochs} epochs × (${images.train} images × ${(estimate.trainSecondsPerImage * 1000).toFixed(2)} ms ` +
    `+ ${images.test} test images × ${(estimate.evalSecondsPerImage * 1000).toFixed(2)} ms), from ${runLabel(result.config)} (${estimate.match}) on ${result.backend.choice} at batch ${result.config.batchSize}, ` +
    `${Math.round(result.throughput.imagesPerSecond)} images/s in its steps (${relative(relativeTo, join(folder, 'runs', run)) || '.'}; ${machine})`
  );
}

/**
 * The folders the repository commits measured runs in (`benchmarks/<protocol>/runs/*`), found
 * by walking up from this module to the checkout's `benchmarks/`; none outside a checkout.
 */
export function committedMeasurementFolders(): string[] {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const benchmarks = join(folder, 'benchmarks');
    if (existsSync(join(benchmarks, 'README.md')) && existsSync(join(folder, 'apps', 'bench'))) {
      return readdirSync(benchmarks, { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && existsSync(join(benchmarks, entry.name, 'runs')))
        .map((entry) => join(benchmarks, entry.name))
        .sort();
    }
    folder = dirname(folder);
  }
  return [];
}

/** Every finished run of `folders`, the measurements the estimates choose from. */
export async function measuredRuns(folders: readonly string[]): Promise<FoundRun[]> {
  return (await Promise.all(folders.map((folder) => findRuns(folder)))).flat();
}
