import { ConfigError } from '../errors.js';
import { selectBackend, type SelectBackendOptions } from '../backend/select-backend.js';
import { LocalTrainer, type TrainerOptions } from '../training/trainer.js';

/**
 * How a worker builds its trainer: the ES module `module` (a URL or a specifier the worker can
 * import), whose export `export` (default `default`) is a function of the JSON `options`
 * returning the `TrainerOptions`, run after `backend` is selected. Only this travels to the
 * workers; the same recipe (and seed) gives every worker the same initial weights.
 */
export interface TrainerRecipe {
  module: string;
  export?: string;
  options?: unknown;
  /** A `selectBackend` choice, selected before the function runs (default: keep the active backend). */
  backend?: string;
  backendOptions?: Omit<SelectBackendOptions, 'log'>;
}

export type RecipeFunction<Options = never> = (options: Options) => TrainerOptions | Promise<TrainerOptions>;

/** Imports the recipe's module and calls its function (on the active backend). */
export async function loadRecipe(recipe: TrainerRecipe): Promise<TrainerOptions> {
  const name = recipe.export ?? 'default';
  let module: Record<string, unknown>;
  try {
    module = (await import(recipe.module)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`recipe.module '${recipe.module}' could not be imported (${(error as Error).message}); give a URL or package specifier the workers can import.`, {
      cause: error,
    });
  }
  const make = module[name];
  if (typeof make !== 'function') {
    throw new ConfigError(`recipe.module '${recipe.module}' has no function export '${name}'; set recipe.export to the function that returns the trainer options.`);
  }
  return (make as (options: unknown) => TrainerOptions | Promise<TrainerOptions>)(recipe.options);
}

/** Selects the recipe's backend (quietly), then builds its `LocalTrainer`. */
export async function buildRecipeTrainer(recipe: TrainerRecipe): Promise<LocalTrainer> {
  if (recipe.backend) await selectBackend(recipe.backend, { ...recipe.backendOptions, log: () => {} });
  return new LocalTrainer(await loadRecipe(recipe));
}
