import { ConfigError, LocalLearningPlugin, SeededRandom } from '@mlaan/core';
import { ClassificationHead, DGL_HEADS, DglHeadName } from './heads.js';

/** A `dgl()` option is unknown, of the wrong type or out of range. */
export class DglConfigError extends ConfigError {}

export interface DglOptions {
  /**
   * Auxiliary classifier of every module but the last (which uses the backbone's own classifier):
   * `'mlp-sr'` (default, DGL's original), `'mlaan'` (the MLAAN authors' DGL head) or `'linear'`
   * (global average pool + Linear).
   */
  head?: DglHeadName;
  /** Hidden [Linear → BN1d → ReLU] layers of the `'mlp-sr'` head. Default 3, as in DGL's code. */
  mlpLayers?: number;
  /** Seed of the heads' initialisation. Default: drawn from the trainer's seeded generator. */
  seed?: number;
}

const OPTION_NAMES = ['head', 'mlpLayers', 'seed'] as const;

function validate(options: DglOptions): Required<Omit<DglOptions, 'seed'>> & { seed?: number } {
  if (options === null || typeof options !== 'object') {
    throw new DglConfigError(`dgl() takes an options object, got ${String(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!(OPTION_NAMES as readonly string[]).includes(key)) {
      throw new DglConfigError(`Unknown dgl() option '${key}'. Valid options: ${OPTION_NAMES.join(', ')}.`);
    }
  }
  const head = options.head ?? 'mlp-sr';
  if (!Object.prototype.hasOwnProperty.call(DGL_HEADS, head)) {
    throw new DglConfigError(
      `Unknown DGL head '${String(head)}'. Choose one of: ${Object.keys(DGL_HEADS).map((n) => `'${n}'`).join(', ')}.`,
    );
  }
  const mlpLayers = options.mlpLayers ?? 3;
  if (!Number.isInteger(mlpLayers) || mlpLayers < 0) {
    throw new DglConfigError(`dgl() mlpLayers must be an integer >= 0, got ${String(mlpLayers)}.`);
  }
  if (options.seed !== undefined && !Number.isInteger(options.seed)) {
    throw new DglConfigError(`dgl() seed must be an integer, got ${String(options.seed)}.`);
  }
  return { head, mlpLayers, seed: options.seed };
}

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
export function dgl(options: DglOptions = {}): LocalLearningPlugin {
  const { head, mlpLayers, seed } = validate(options);
  let random: SeededRandom | undefined;
  return {
    name: 'dgl',
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
}
