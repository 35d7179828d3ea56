import { mkdir } from 'node:fs/promises';
import { ConfigError, LocalTrainer, PipelinedTrainer } from '@mlaan/core';
import { createLoader, type Loader } from '@mlaan/data';
import type { RunConfig } from '../configuration/settings.js';
import type { DatasetCache } from '../data.js';
import { frameworkDefinition } from '../registry/frameworks.js';
import { benchRecipeModule, benchTrainerOptions } from './trainer-recipe.js';
import { PipelinedEngine, SequentialEngine, type TrainingEngine } from './training-engine.js';
import { type RunOptions, type TrainOutcome, TrainingRun } from './training-run.js';

export type { TrainOutcome } from './training-run.js';

export interface TrainOptions extends RunOptions {
  data: DatasetCache;
  /** Loader worker threads (undefined: @mlaan/data's default). */
  loaderWorkers?: number;
  /** Pipeline workers for module-parallel training (`--workers`; 1 or undefined: the sequential trainer). */
  workers?: number;
  /** How cascade cotangents cross the pipeline's workers (`--exchange`; default exact). */
  exchange?: 'exact' | 'delayed';
}

/**
 * Trains one configuration, resuming from `runDir/checkpoint` when one is there, and writes
 * `runDir/result.json` when it finishes. Returns early (checkpoint saved) when `stop.requested`.
 * This is the set-up: the datasets, the trainer (sequential, or pipelined over `workers`) and the
 * loaders; `TrainingRun` trains.
 */
export async function trainConfiguration(config: RunConfig, options: TrainOptions): Promise<TrainOutcome> {
  await mkdir(options.runDir, { recursive: true });
  const [trainSet, testSet] = await Promise.all([
    options.data.get(config.dataset, 'train', config.trainLimit),
    options.data.get(config.dataset, 'test', config.testLimit),
  ]);
  const framework = frameworkDefinition(config.framework);
  const recipeOptions = { config, classes: trainSet.classes.length };
  const trainerOptions = await benchTrainerOptions(recipeOptions);
  const { backbone, cuts = [] } = trainerOptions;
  // End-to-end training pools globally and takes any size; local heads are sized from backbone.inputSize.
  if (framework.local && (trainSet.height !== backbone.inputSize || trainSet.width !== backbone.inputSize)) {
    backbone.dispose();
    throw new ConfigError(
      `${config.dataset} images are ${trainSet.height}×${trainSet.width} but ${config.network} declares ${backbone.inputSize}×${backbone.inputSize} inputs, ` +
        'which the local heads are sized from. Use a dataset of that size (CIFAR-10, SVHN) for local frameworks, or --framework e2e.',
    );
  }
  let engine: TrainingEngine | undefined;
  let trainLoader: Loader | undefined;
  let ownsBackbone = true;
  try {
    if ((options.workers ?? 1) > 1) {
      const modules = cuts.length + 1;
      if (options.workers! > modules) {
        throw new ConfigError(
          `--workers ${options.workers} gives each worker a range of the local modules, but this configuration has ${modules} (${framework.local ? `K=${config.K}` : 'end-to-end training is one module'}). Use --workers ${modules} or fewer${framework.local ? ', or a larger --K' : ''}.`,
        );
      }
      // Every worker (and the mirror) builds its own model from the same recipe and seed.
      backbone.dispose();
      ownsBackbone = false;
      const pipelined = await PipelinedTrainer.create({
        recipe: { module: benchRecipeModule(), options: recipeOptions, backend: options.backend.choice },
        workers: options.workers!,
        exchange: options.exchange,
        memoryEvery: options.memoryEvery,
      });
      engine = new PipelinedEngine(pipelined);
    } else {
      engine = new SequentialEngine(new LocalTrainer(trainerOptions));
    }
    // The bench disposes every batch once trained on or evaluated and never keeps its arrays, so the
    // loaders may write later batches into them: 77 MB a batch on ImageNet, whose fresh pages cost
    // about as much CPU as decoding the JPEGs (benchmarks/README.md, JPEG section).
    const reuseInputBuffers = true;
    trainLoader = createLoader(trainSet, { batchSize: config.batchSize, augment: config.augment, seed: config.seed, workers: options.loaderWorkers, reuseInputBuffers });
    const testLoader = createLoader(testSet, { batchSize: config.evalBatchSize, augment: false, shuffle: false, workers: 0, reuseInputBuffers });
    return await new TrainingRun(config, engine, trainLoader, testLoader, [trainSet, testSet], options).run();
  } finally {
    await trainLoader?.close();
    await engine?.dispose();
    if (ownsBackbone) backbone.dispose();
  }
}
