import type { Backbone } from '../backbone/backbone.js';
import type { CutPoint } from '../backbone/partition.js';
import { ConfigError } from '../errors.js';
import { ACTIVATION_POLICIES, type ActivationPolicy } from './activation-memory.js';
import { defineOptions, option } from './define-plugin.js';
import type { SgdOptions } from './optimizer.js';
import type { LocalLearningPlugin } from './plugin.js';
import type { TrainingMode } from './training-step.js';

const isBackbone = (value: unknown): value is Backbone =>
  typeof value === 'object' && value !== null && typeof (value as Backbone).namedParameters === 'function' && Array.isArray((value as Backbone).blocks);

/** The trainer's options, declared as the plugins' are: each rule is an option's type, default and check. */
export const trainerOptions = defineOptions({
  call: 'new LocalTrainer()',
  rules: {
    /** The network to train (`resnet32()` from @mlaan/models, or a `Backbone` of your own). */
    backbone: option.custom<Backbone>((v) => (isBackbone(v) ? undefined : 'must be a Backbone, e.g. resnet32() from @mlaan/models')),
    /** Cut points (METHOD §2 or `getSplit`); none means end-to-end training as one module. */
    cuts: option.optional(
      option.custom<readonly CutPoint[]>((v) =>
        Array.isArray(v) && v.every((c) => Array.isArray(c) && c.length === 2 && c.every(Number.isInteger))
          ? undefined
          : "must be an array of [stage, block] cut points, e.g. getSplit({ net: 'resnet32', K: 4 })",
      ),
    ),
    /** A host (dgl(), infoPro(), ...) and plugins (...withMLAAN()). */
    plugins: option.optional(
      option.custom<readonly LocalLearningPlugin[]>((v) =>
        Array.isArray(v) ? undefined : 'must be an array of plugin objects, e.g. [dgl(), ...withMLAAN()]',
      ),
    ),
    /** SGD's options (PyTorch's semantics); see `SgdOptions`. */
    optimizer: option.optional(option.custom<Partial<SgdOptions>>((v) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? undefined : 'must be an object of SGD options, e.g. { learningRate: 0.1 }'))),
    /**
     * `simultaneous` (InfoPro/MLAAN): accumulate every local gradient, then one step.
     * `sequential` (original DGL): each module and its heads step right after their own loss.
     */
    mode: option.oneOf<TrainingMode>(['simultaneous', 'sequential'], 'simultaneous'),
    /** How module activations are held for losses that span several modules. */
    activations: option.oneOf<ActivationPolicy>(ACTIVATION_POLICIES, 'auto'),
    /** Seed of the trainer's generator (plugins fork it for their heads' initial weights). */
    seed: option.integer({}, 0),
  },
});

/** Checks the trainer's options (unknown keys with a did-you-mean, each value by its rule). */
export function resolveTrainerOptions(options: unknown): ReturnType<typeof trainerOptions.resolve> {
  if (options === undefined) throw new ConfigError('new LocalTrainer() needs its options, at least { backbone }.');
  return trainerOptions.resolve(options as object);
}
