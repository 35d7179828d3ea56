import * as tf from '@tensorflow/tfjs-core';
import {
  Batch,
  crossEntropy,
  ForwardContext,
  getSplit,
  CutPoint,
  type ConfigOf,
  definePlugin,
  option,
  type PluginOptions,
  Head,
  HeadRole,
  LocalLearningPlugin,
  NamedVariable,
  prefixed,
  SeededRandom,
  Sequential,
  ShapeError,
} from '@mlaan/core';
import { InfoProConfigError } from './errors.js';
import { INFOPRO_DATASETS, interpolateLambda, InfoProDataset, Lambda, ModuleWeights, paperLambda, validateLambda } from './lambda.js';
import { binaryCrossEntropyWithLogits, l2Normalize, supervisedContrastiveLoss } from './losses.js';
import { AUX_HEAD_CONFIGS, AuxHeadName, buildAuxHead, InfoProDecoder, Interpolation } from './networks.js';

export type InfoProTask = 'contrast' | 'cross-entropy';

/** InfoPro's options, declared once: each rule is an option's type, default and check. */
const infoProRules = {
  /**
   * `[ixx1, ixy1, ixx2, ixy2]`: reconstruction and task weights at the first local module and at
   * module K-2, interpolated in between. Default: the paper's preset for (`dataset`, network, K,
   * `balancedMemory`); a setting without a preset is an error. Checked by `validateLambda`, whose
   * message names the entry that is wrong.
   */
  lambda: option.optional(option.custom<Lambda>(() => undefined)),
  /** Selects the λ preset. Default `'cifar10'`. */
  dataset: option.oneOf<InfoProDataset>(INFOPRO_DATASETS, 'cifar10'),
  /** Selects the InfoPro* (memory-balanced split) λ preset. Default false. */
  balancedMemory: option.boolean(false),
  /** Task loss of the auxiliary head. Default `'contrast'` (supervised contrastive). */
  task: option.oneOf<InfoProTask>(['contrast', 'cross-entropy'], 'contrast'),
  /** Auxiliary head configuration. Default `'1c2f'`. */
  auxHead: option.oneOf(Object.keys(AUX_HEAD_CONFIGS) as AuxHeadName[], '1c2f'),
  /** Width multiplier of decoder and auxiliary head (reference `aux_net_widen`). Default 1. */
  widen: option.finiteNumber({ min: 0, exclusiveMin: true }, 1),
  /** Hidden width of the auxiliary head's Linear layers and contrastive feature size. Default 128. */
  featureDimension: option.integer({ min: 0, exclusiveMin: true }, 128),
  /** Temperature of the contrastive loss. Default 0.07. */
  temperature: option.finiteNumber({ min: 0, exclusiveMin: true }, 0.07),
  /** Decoder upsampling. Default `'bilinear'` (aligned corners). */
  interpolation: option.oneOf<Interpolation>(['bilinear', 'nearest'], 'bilinear'),
  /** Seed of the heads' initialisation. Default: drawn from the trainer's seeded generator. */
  seed: option.optional(option.integer()),
};

/** InfoPro's options once resolved (`lambda` checked by `validateLambda`). */
export type InfoProConfig = ConfigOf<typeof infoProRules>;

/** The parts of an InfoPro local loss, unweighted. */
export interface InfoProLossParts {
  reconstruction: tf.Scalar;
  task: tf.Scalar;
}

/**
 * One module's InfoPro loss, `λ1·BCE(decoder(h), x01) + λ2·task(aux(h), y)`, with x01 the
 * un-normalised image `x·std + mean` from `batch.normalization`. Variables:
 * `<name>.decoder.decoder.{0,1,3}.*` and `<name>.aux.head.<k>.*`, `<name>` = `infopro.<module>`
 * (independent) or `infopro.<module>.cascade` (MLAAN's cascaded branch).
 */
export class InfoProHead implements Head {
  constructor(
    readonly name: string,
    readonly decoder: InfoProDecoder,
    readonly aux: Sequential,
    readonly weights: ModuleWeights,
    readonly task: InfoProTask,
    readonly temperature: number,
  ) {}

  namedParameters(): NamedVariable[] {
    return [...prefixed(`${this.name}.decoder`, this.decoder.namedParameters()), ...prefixed(`${this.name}.aux`, this.aux.namedParameters())];
  }

  namedBuffers(): NamedVariable[] {
    return [...prefixed(`${this.name}.decoder`, this.decoder.namedBuffers()), ...prefixed(`${this.name}.aux`, this.aux.namedBuffers())];
  }

  /** x·std + mean: the image in [0, 1] the decoder reconstructs. */
  target(batch: Batch): tf.Tensor {
    const normalization = batch.normalization;
    const channels = batch.inputs.shape[3];
    if (!normalization || normalization.mean.length !== channels || normalization.std.length !== channels) {
      throw new ShapeError(
        `InfoPro reconstructs the un-normalised image, so every batch needs normalization { mean, std } with ${channels} values each (the @mlaan/data loaders set it). Add it to your batches.`,
      );
    }
    return tf.tidy(() => tf.add(tf.mul(batch.inputs, tf.tensor1d([...normalization.std])), tf.tensor1d([...normalization.mean])));
  }

  /** Reconstruction and task losses before weighting. */
  parts(features: tf.Tensor, batch: Batch, context: ForwardContext): InfoProLossParts {
    return tf.tidy(() => {
      const [, height, width] = batch.inputs.shape;
      const reconstruction = binaryCrossEntropyWithLogits(this.decoder.logits(features, [height, width], context), this.target(batch));
      const outputs = this.aux.apply(features, context);
      const task =
        this.task === 'contrast'
          ? supervisedContrastiveLoss(l2Normalize(outputs), batch.labels, { temperature: this.temperature })
          : crossEntropy(outputs, batch.labels);
      return { reconstruction, task } as unknown as tf.TensorContainer;
    }) as unknown as InfoProLossParts;
  }

  loss(features: tf.Tensor, batch: Batch, context: ForwardContext): tf.Scalar {
    return tf.tidy(() => {
      const { reconstruction, task } = this.parts(features, batch, context);
      // Both parts run even at weight 0, as in the reference (its BN statistics still update).
      return tf.add(tf.mul(reconstruction, this.weights.reconstruction), tf.mul(task, this.weights.task)) as tf.Scalar;
    });
  }

  dispose(): void {
    this.decoder.dispose();
    this.aux.dispose();
  }
}

/**
 * InfoPro (Wang et al., ICLR 2021) as a local-learning host: module i ≤ K-2 trains with
 * `λ1_i·BCE(Decoder(h), x01) + λ2_i·task(AuxHead(h), y)`; the last module with the backbone's
 * classifier and cross-entropy.
 *
 * Heads are built per request and role. For MLM's `'cascade'` role (InfoPro+MLAAN) the head is a
 * second, separate decoder + auxiliary head with the same λ_i, named `infopro.<module>.cascade.*`:
 * the MLAAN authors' InfoPro code (`resnetInfoPro_DFLPlus.py`) gives the cascaded branch its own
 * `aux_decoder` and `aux_classifier` and weights both losses with the module's λ.
 */
export const infoPro = definePlugin({ call: 'infoPro()', error: InfoProConfigError, rules: infoProRules }, (resolved): LocalLearningPlugin => {
  let random: SeededRandom | undefined;
  let lambda: Lambda | undefined = resolved.lambda === undefined ? undefined : validateLambda(resolved.lambda);
  const makeRandom = (fallback: SeededRandom) => (resolved.seed !== undefined ? new SeededRandom(resolved.seed) : fallback.fork());
  return {
    name: 'infopro',
    host: true,
    setup(context) {
      random = makeRandom(context.random);
      const K = context.modules.length;
      if (lambda === undefined && K >= 2) {
        lambda = paperLambda({ dataset: resolved.dataset, net: context.backbone.id, K, balancedMemory: resolved.balancedMemory });
      }
    },
    createHead(request, context) {
      if (request.isLast) return undefined;
      random ??= makeRandom(context.random);
      if (lambda === undefined) {
        lambda = paperLambda({ dataset: resolved.dataset, net: context.backbone.id, K: context.modules.length, balancedMemory: resolved.balancedMemory });
      }
      // Sized from request.input: a plugin (LAM) may put a leap network in front of the head.
      const channels = request.input.channels;
      const name = headName(request.moduleIndex, request.role);
      const decoder = new InfoProDecoder(channels, { widen: resolved.widen, interpolation: resolved.interpolation, random });
      const aux = buildAuxHead({
        config: resolved.auxHead,
        channels,
        outputs: resolved.task === 'contrast' ? resolved.featureDimension : context.classes,
        widen: resolved.widen,
        featureDimension: resolved.featureDimension,
        random,
      });
      const weights = interpolateLambda(lambda, request.moduleIndex, context.modules.length);
      return new InfoProHead(name, decoder, aux, weights, resolved.task, resolved.temperature);
    },
  };
});

function headName(moduleIndex: number, role: HeadRole): string {
  return role === 'independent' ? `infopro.${moduleIndex}` : `infopro.${moduleIndex}.${role}`;
}

/**
 * Cut points for InfoPro: the standard table, or with `balancedMemory` the InfoPro* splits that
 * balance GPU memory across modules. An unknown (net, K) is an `UnknownSplitError`.
 *
 * @deprecated The same tables as `getSplit` from `@mlaan/core` under a second name; use
 * `getSplit({ net, K, variant: balancedMemory ? 'balanced' : 'default' })`. Removed in a later
 * minor version.
 */
export function infoProSplit(request: { net: string; K: number; balancedMemory?: boolean }): CutPoint[] {
  return getSplit({ net: request.net, K: request.K, variant: request.balancedMemory ? 'balanced' : 'default' });
}

/** What `infoPro()` takes: every option of `InfoProConfig`, each optional. */
export type InfoProOptions = PluginOptions<typeof infoPro>;
