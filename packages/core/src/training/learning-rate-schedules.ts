import { ConfigError } from '../errors.js';

// Learning rate by epoch. (How a step holds activations is `ActivationSchedule`, in activation-memory.ts.)

/** Learning rate for a 0-based epoch index. */
export type LearningRateSchedule = (epoch: number) => number;

export interface CosineWarmupOptions {
  initialLearningRate: number;
  epochs: number;
  warmupEpochs?: number;
  /** Learning rate the warm-up starts from (0.01 in the InfoPro/MLAAN code). */
  warmupStart?: number;
}

/**
 * METHOD §6, per epoch with e = epoch + 1: for e <= 10,
 * 0.5 lr0 (1 + cos(pi e / E)) (e - 1) / 10 + 0.01 (11 - e) / 10, else 0.5 lr0 (1 + cos(pi e / E)).
 */
export function cosineWithWarmup(options: CosineWarmupOptions): LearningRateSchedule {
  const { initialLearningRate: lr0, epochs } = options;
  const warmup = options.warmupEpochs ?? 10;
  const start = options.warmupStart ?? 0.01;
  if (!(epochs > 0)) throw new ConfigError(`epochs must be positive, got ${epochs}`);
  return (epoch: number) => {
    const e = epoch + 1;
    const cosine = 0.5 * lr0 * (1 + Math.cos((Math.PI * e) / epochs));
    if (warmup > 0 && e <= warmup) return (cosine * (e - 1)) / warmup + (start * (warmup + 1 - e)) / warmup;
    return cosine;
  };
}

export interface CosineAnnealingOptions {
  initialLearningRate: number;
  epochs: number;
}

/**
 * PyTorch's `CosineAnnealingLR(T_max = epochs, eta_min = 0)` stepped once per epoch:
 * 0.5 lr0 (1 + cos(pi epoch / E)) for the 0-based epoch, so the first epoch trains at lr0 and none
 * at 0 (METHOD §6's cosine, evaluated at epoch + 1, trains its last epoch at 0). Short protocols
 * want this one.
 */
export function cosineAnnealingSchedule(options: CosineAnnealingOptions): LearningRateSchedule {
  const { initialLearningRate: lr0, epochs } = options;
  if (!(epochs > 0)) throw new ConfigError(`epochs must be positive, got ${epochs}`);
  return (epoch: number) => 0.5 * lr0 * (1 + Math.cos((Math.PI * epoch) / epochs));
}

export interface StepLearningRateOptions {
  initialLearningRate: number;
  /** 0-based epochs at which the rate is multiplied by `gamma`. */
  milestones: readonly number[];
  gamma?: number;
}

/** lr0 * gamma^(number of milestones <= epoch), as PyTorch's MultiStepLR. */
export function stepLearningRateSchedule(options: StepLearningRateOptions): LearningRateSchedule {
  const gamma = options.gamma ?? 0.1;
  return (epoch: number) =>
    options.initialLearningRate * gamma ** options.milestones.filter((m) => m <= epoch).length;
}

export function constantLearningRateSchedule(learningRate: number): LearningRateSchedule {
  return () => learningRate;
}

/** @deprecated Use `StepLearningRateOptions`. */
export type StepScheduleOptions = StepLearningRateOptions;
/** @deprecated Use `stepLearningRateSchedule` ("schedule" alone also names the activation schedules). */
export const stepSchedule = stepLearningRateSchedule;
/** @deprecated Use `constantLearningRateSchedule`. */
export const constantSchedule = constantLearningRateSchedule;
