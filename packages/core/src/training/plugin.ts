import type * as tf from '@tensorflow/tfjs-core';
import type { ForwardContext, NamedVariable } from '../layers/layer.js';
import type { Backbone } from '../backbone/backbone.js';
import type { LocalModule } from '../backbone/partition.js';
import type { SeededRandom } from '../random.js';

/** One mini-batch. Images are NHWC and normalised; labels are int32 class indices. */
export interface Batch {
  inputs: tf.Tensor4D;
  labels: tf.Tensor1D;
  /** Per-channel normalisation of `inputs`, so heads that need the raw image (InfoPro) can undo it. */
  normalization?: { mean: readonly number[]; std: readonly number[] };
}

/**
 * Which branch a head serves: an open set of names. Core knows two (`HeadRoles`): `independent`,
 * the module's own local loss (every term the trainer starts from), and `cascade`, a loss
 * back-propagated through a window of modules ending at this one (MLM asks for it). A plugin may
 * ask hosts for a role of its own; a host makes one head per role it is asked for, sized from the
 * request (roles differ in what their terms do, not in what the host builds).
 */
export type HeadRole = 'independent' | 'cascade' | (string & {});

/** The roles core and the MLAAN plugins use. */
export const HeadRoles = Object.freeze({ independent: 'independent', cascade: 'cascade' } as const);

/** The key of the head serving `role` at module `moduleIndex` (`headKey`): `"3:cascade"`. */
export type HeadKey = `${number}:${HeadRole}`;

/**
 * A head turns a module's output into a scalar loss. It runs under tfjs autograd: the trainer
 * takes gradients of `loss` with respect to the features and to `namedParameters()`.
 */
export interface Head {
  readonly name: string;
  /** Trainable variables, full names (e.g. `infopro.2.decoder.conv1.weight`), stable order. */
  namedParameters(): NamedVariable[];
  /** Non-trainable state owned by the head (running statistics, EMA twins), checkpointed. */
  namedBuffers?(): NamedVariable[];
  loss(features: tf.Tensor, batch: Batch, context: ForwardContext): tf.Scalar;
  /**
   * Optional: the loss and its gradients in one call, for heads that run part of their network
   * with the layers' explicit backward instead of tfjs autograd (LAM's leap nets: less memory,
   * fewer kernels). Must agree with `loss` and its autograd gradients. The trainer uses it when
   * present.
   */
  lossAndGradients?(features: tf.Tensor, batch: Batch, context: ForwardContext, weight: number): HeadGradients;
  dispose?(): void;
}

/** What `Head.lossAndGradients` returns; the caller owns (and disposes) every tensor. */
export interface HeadGradients {
  /** The unweighted loss. */
  loss: tf.Scalar;
  /** d(weight * loss) / d(features). */
  featureGradient: tf.Tensor;
  /** d(weight * loss) / d(variable) for the head's trainable variables that receive one. */
  parameterGradients: Map<tf.Variable, tf.Tensor>;
}

/** The features a head receives: channel count and square spatial size (for the backbone's inputSize). */
export interface HeadInput {
  channels: number;
  size: number;
}

export interface HeadRequest {
  moduleIndex: number;
  role: HeadRole;
  module: LocalModule;
  /** True for the last module, whose loss is the backbone's own classifier cross-entropy. */
  isLast: boolean;
  /** Every role this module's loss terms ask for, so a wrapper can decide which branch to serve. */
  roles: ReadonlySet<HeadRole>;
  /**
   * The features the head will be given: the module's output, unless a plugin's `headInput` puts a
   * network in front of the head (LAM's leap net ends at a later block, with more channels and a
   * smaller map). Hosts size their heads from this, not from `module`.
   */
  input: HeadInput;
}

/**
 * A loss term: run modules `span[0]..span[1]` from the detached output of module `span[0]-1`
 * (the batch input when span[0] is 0), feed the result to the head of (`span[1]`, `role`), and
 * scale by `weight`. Its gradient reaches exactly those modules and that head.
 */
export interface LossTerm {
  name: string;
  span: readonly [start: number, end: number];
  role: HeadRole;
  weight: number;
}

export interface SetupContext {
  backbone: Backbone;
  modules: readonly LocalModule[];
  classes: number;
  /** Names of every plugin in the order they run. */
  plugins: readonly string[];
  random: SeededRandom;
}

export interface StepContext {
  step: number;
  epoch: number;
  backbone: Backbone;
  modules: readonly LocalModule[];
  heads: ReadonlyMap<HeadKey, Head>;
  /**
   * The modules whose heads' state this call updates: every module on a `LocalTrainer`, a pipeline
   * stage's own modules on a worker (the rest of the model lives on other workers).
   */
  range: { readonly first: number; readonly end: number };
}

/**
 * A local-learning plugin, in the spirit of unplugin/Vite: a plain object made by a factory
 * (`definePlugin`). The trainer owns the step (gradient scopes, accumulation, weight decay, the
 * optimizer); plugins only describe heads, losses and state. How several plugins combine, per hook
 * (the rules `PluginHost` implements):
 *
 * | hook              | when                                   | combination                              |
 * |-------------------|----------------------------------------|------------------------------------------|
 * | `setup`           | once, before anything else; may return | sequential, plugin order; the undos run  |
 * |                   | an undo (run when the trainer goes)    | in reverse order                         |
 * | `terms`           | once, after setup                      | waterfall from the default (one          |
 * |                   |                                        | independent term per module)             |
 * | `headInput`       | once per (module, role), before        | waterfall from the module's output shape |
 * |                   | `createHead`                           | (undefined keeps the current one)        |
 * | `createHead`      | once per (module, role) a term needs   | first plugin returning a head wins       |
 * | `wrapHead`        | right after `createHead`               | waterfall, plugin order                  |
 * | `namedParameters` | optimizer and checkpoint assembly      | collect (concatenated, plugin order)     |
 * | `namedBuffers`    | checkpoint assembly                    | collect                                  |
 * | `afterBackward`   | every step, after all local gradients, | sequential, plugin order                 |
 * |                   | before weight decay and the step       |                                          |
 * | `stateReads`      | when a pipeline stage is built         | collect                                  |
 * | `dispose`         | trainer dispose                        | sequential, reverse order (after undo)   |
 *
 * Plugin order: `enforce: 'pre'` plugins, then plugins without `enforce`, then `'post'`, each group
 * in the order given. A trainer that gets a plugin object another trainer already used works on a
 * fresh copy made from the same options (objects from `definePlugin` factories), so plugin state is
 * per trainer; `trainer.plugins` holds the objects it actually uses.
 *
 * The host protocol (a plugin that supplies local losses, like DGL, InfoPro or AugLocal):
 * - `createHead(request)` returns a `Head` for every module but the last (the last module's head is
 *   the backbone's classifier, unless a host returns one for `request.isLast`), for every role it
 *   is asked for (`request.role`; `request.roles` lists all the roles of that module), sized from
 *   `request.input` (channels and square size of the features it will receive: a plugin such as
 *   LAM may put a network in front of it), never from `request.module`;
 * - a head's variables are named `<plugin>.<module>.<role>.<...>` (its `namedParameters` and
 *   `namedBuffers`), unique across the trainer, so checkpoints and exports find them;
 * - a host draws its initial weights from `SetupContext.random` (forked in `setup`) or its own
 *   `seed` option, never from a global generator, so the same trainer options give the same model;
 * - exactly one host per trainer: two hosts would both answer `createHead`, and only the first
 *   would be used (the trainer rejects two plugins that both declare `host: true`).
 */
export interface LocalLearningPlugin {
  name: string;
  enforce?: 'pre' | 'post';
  /** True for a plugin that supplies the local losses' heads (DGL, InfoPro, AugLocal): at most one per trainer. */
  host?: boolean;
  /** Once per trainer, first; returns what undoes it (changes to the backbone, say), run when the trainer is disposed. */
  setup?(context: SetupContext): void | (() => void);
  terms?(terms: LossTerm[], context: SetupContext): LossTerm[];
  headInput?(request: HeadRequest, context: SetupContext): HeadInput | undefined;
  createHead?(request: HeadRequest, context: SetupContext): Head | undefined;
  wrapHead?(head: Head, request: HeadRequest, context: SetupContext): Head;
  namedParameters?(): NamedVariable[];
  namedBuffers?(): NamedVariable[];
  /** State updates after the step's gradients, before its update, for the heads of modules in `context.range` (LAM's EMA twins). */
  afterBackward?(context: StepContext): void;
  /**
   * The variables that `afterBackward` reads to update the state of module `moduleIndex`'s heads,
   * beyond those heads' own (LAM: the real blocks its twin follows, which live in later modules).
   * A pipeline stage keeps copies of just these from the workers that own them; a plugin with
   * `afterBackward` and without `stateReads` makes every stage keep the whole model.
   */
  stateReads?(moduleIndex: number): readonly NamedVariable[];
  dispose?(): void;
}
