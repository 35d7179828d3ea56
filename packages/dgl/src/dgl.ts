import { ConfigError, type ConfigOf, definePlugin, LocalLearningPlugin, option, type PluginOptions, SeededRandom } from '@mlaan/core';
import { ClassificationHead, DGL_HEADS, DglHeadName } from './heads.js';

/** A `dgl()` option is unknown, of the wrong type or out of range. */
export class DglConfigError extends ConfigError {}

/** DGL's options, declared once: each rule is an option's type, default and check. */
const dglRules = {
  /**
   * Auxiliary classifier of every module but the last (which uses the backbone's own classifier):
   * `'mlp-sr'` (default, DGL's original), `'mlaan'` (the MLAAN authors' DGL head) or `'linear'`
   * (global average pool + Linear).
   */
  head: option.oneOf(Object.keys(DGL_HEADS) as DglHeadName[], 'mlp-sr'),
  /** Hidden [Linear → BN1d → ReLU] layers of the `'mlp-sr'` head. Default 3, as in DGL's code. */
  mlpLayers: option.integer({ min: 0, meaning: "hidden layers of the 'mlp-sr' head" }, 3),
  /** Seed of the heads' initialisation. Default: drawn from the trainer's seeded generator. */
  seed: option.optional(option.integer()),
};

/** DGL's options once resolved. */
export type DglConfig = ConfigOf<typeof dglRules>;

/**
 * DGL as a local-learning host: every module except the last gets its own auxiliary classifier
 * trained with cross-entropy on the module's output; the next module sees that output detached.
 * The last module trains with the backbone's classifier (the trainer's default).
 *
 * Heads are made on request for both roles: `'independent'` (the module's own loss) and
 * `'cascade'` (asked for by MLM), each call building a new head with its own variables named
 * `dgl.<module>.<role>.<inner>`, e.g. `dgl.0.independent.fc.weight`, `dgl.3.cascade.fc.bias`.
 *
 * Original DGL stepped each module as soon as its loss was back-propagated: pass
 * `mode: 'sequential'` to `LocalTrainer`. The default `'simultaneous'` mode accumulates every
 * local gradient and takes one optimizer step, as InfoPro and MLAAN do.
 */
export const dgl = definePlugin({ call: 'dgl()', error: DglConfigError, rules: dglRules }, ({ head, mlpLayers, seed }): LocalLearningPlugin => {
  let random: SeededRandom | undefined;
  return {
    name: 'dgl',
    host: true,
    setup(context) {
      random = seed !== undefined ? new SeededRandom(seed) : context.random.fork();
    },
    createHead(request, context) {
      if (request.isLast) return undefined;
      random ??= seed !== undefined ? new SeededRandom(seed) : context.random.fork();
      // Sized from request.input: a plugin (LAM) may put a leap network in front of the head.
      const channels = request.input.channels;
      const size = request.input.size;
      const network = DGL_HEADS[head].build({ channels, size, classes: context.classes, random, mlpLayers });
      return new ClassificationHead(`dgl.${request.moduleIndex}.${request.role}`, network, {
        channels,
        size: head === 'mlp-sr' ? size : undefined,
      });
    },
  };
});

/** What `dgl()` takes: every option of `DglConfig`, each optional. */
export type DglOptions = PluginOptions<typeof dgl>;
