import { constantLearningRateSchedule, cosineAnnealingSchedule, cosineWithWarmup, type LearningRateSchedule } from '@mlaan/core';
import type { RunConfig } from './settings.js';

/** The learning rate of each epoch of a configuration, by its `--schedule` (core's schedules). */
export function learningRateSchedule(config: Pick<RunConfig, 'schedule' | 'learningRate' | 'epochs' | 'warmupEpochs'>): LearningRateSchedule {
  switch (config.schedule) {
    case 'constant':
      return constantLearningRateSchedule(config.learningRate);
    case 'cosine':
      return cosineWithWarmup({ initialLearningRate: config.learningRate, epochs: config.epochs, warmupEpochs: 0 });
    case 'cosine-warmup':
      return cosineWithWarmup({ initialLearningRate: config.learningRate, epochs: config.epochs, warmupEpochs: config.warmupEpochs });
    case 'cosine-annealing':
      return cosineAnnealingSchedule({ initialLearningRate: config.learningRate, epochs: config.epochs });
  }
}

/** The learning rate the schedule reaches at its highest over the run. */
export function peakLearningRate(config: Pick<RunConfig, 'schedule' | 'learningRate' | 'epochs' | 'warmupEpochs'>): number {
  const schedule = learningRateSchedule(config);
  let peak = 0;
  for (let epoch = 0; epoch < config.epochs; epoch++) peak = Math.max(peak, schedule(epoch));
  return peak;
}

/**
 * Why a run would not train at the learning rate its settings name: a cosine warm-up that lasts as
 * long as the run (or longer) never reaches the initial rate, and METHOD §6's cosine over a single
 * epoch trains at 0. undefined when the schedule is fine.
 */
export function warmupWarning(config: Pick<RunConfig, 'schedule' | 'warmupEpochs' | 'epochs' | 'learningRate'>, peak = peakLearningRate(config)): string | undefined {
  const shown = peak.toPrecision(3);
  if (config.schedule === 'cosine-warmup' && config.warmupEpochs > 0 && config.epochs <= config.warmupEpochs) {
    return (
      `${config.epochs} epoch(s) with ${config.warmupEpochs} warm-up epochs: the run never leaves warm-up and its learning rate ` +
      `peaks at ${shown}, not ${config.learningRate}. Give --warmup-epochs 0 or --schedule cosine-annealing, or more --epochs.`
    );
  }
  if (peak < 0.5 * config.learningRate) {
    return (
      `with --schedule ${config.schedule} over ${config.epochs} epoch(s) the learning rate peaks at ${shown}, not ${config.learningRate} ` +
      '(METHOD §6’s cosine trains its last epoch at 0). Give --schedule cosine-annealing, or more --epochs.'
    );
  }
  return undefined;
}
