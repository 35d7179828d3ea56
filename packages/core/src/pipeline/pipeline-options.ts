import { activeBackendChoice } from '../backend/select-backend.js';
import { ConfigError } from '../errors.js';
import { defineOptions, option } from '../training/define-plugin.js';
import type { Batch } from '../training/plugin.js';
import type { PipelineExchange } from './messages.js';
import type { TrainerRecipe } from './recipe.js';

type PlacementChoice = 'measured' | 'count' | readonly (readonly [number, number])[];

const isRecipe = (v: unknown): v is TrainerRecipe => typeof v === 'object' && v !== null && typeof (v as TrainerRecipe).module === 'string';

/** `PipelinedTrainer.create`'s options, declared as the plugins' are: each rule is an option's type, default and check. */
export const pipelineOptions = defineOptions({
  call: 'PipelinedTrainer.create()',
  rules: {
    recipe: option.custom<TrainerRecipe>((v) =>
      isRecipe(v) ? undefined : "is required: { module, export?, options?, backend? }, where module is a URL or package specifier the workers import (see TrainerRecipe)",
    ),
    workers: option.integer({ min: 1, meaning: 'worker threads, at most the number of modules' }),
    placement: option.custom<PlacementChoice>(
      (v) =>
        v === 'measured' || v === 'count' || (Array.isArray(v) && v.every((r) => Array.isArray(r) && r.length === 2 && r.every(Number.isInteger)))
          ? undefined
          : `must be 'measured', 'count', or one [first, end) module range per worker; got ${JSON.stringify(v)}`,
      'measured',
    ),
    probe: option.optional(option.custom<Batch>((v) => (typeof v === 'object' && v !== null && 'inputs' in v && 'labels' in v ? undefined : 'must be a batch { inputs, labels }'))),
    queueCapacity: option.integer({ min: 1, meaning: 'batches that may wait before each worker' }, 2),
    exchange: option.oneOf<PipelineExchange>(['exact', 'delayed'], 'exact'),
    memoryEvery: option.integer({ min: 0, meaning: 'steps between memory samples; 0: never' }, 0),
    workerEntry: option.optional(option.custom<URL>((v) => (v instanceof URL ? undefined : 'must be a URL'))),
  },
});

export type ResolvedPipelineOptions = ReturnType<typeof pipelineOptions.resolve>;

/**
 * Checks the options and completes the recipe: without `recipe.backend`, the workers select the
 * main thread's active backend (a worker thread starts with no tfjs backend of its own).
 */
export function resolvePipelineOptions(options: unknown): ResolvedPipelineOptions {
  if (options === undefined || options === null) throw new ConfigError('PipelinedTrainer.create() needs its options: { recipe, workers }.');
  const resolved = pipelineOptions.resolve(options as object);
  if (resolved.recipe.backend === undefined) {
    const backend = activeBackendChoice();
    if (backend === undefined) {
      throw new ConfigError(
        "PipelinedTrainer.create(): the workers need a backend and the main thread's active one has no provider to select in a worker; set recipe.backend (e.g. 'onednn', 'wasm', 'cpu').",
      );
    }
    resolved.recipe = { ...resolved.recipe, backend };
  }
  return resolved;
}
