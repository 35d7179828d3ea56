import * as tf from '@tensorflow/tfjs-core';
import {
  Activation,
  Backbone,
  BackboneBlock,
  Batch,
  ForwardContext,
  Head,
  HeadGradients,
  headLossAndGradients,
  HeadInput,
  HeadRequest,
  Layer,
  LocalLearningPlugin,
  LocalModule,
  NamedVariable,
  option,
  type ConfigOf,
  definePlugin,
  type PluginOptions,
  prefixed,
  SetupContext,
  type StepContext,
} from '@mlaan/core';
import { LamError, leapBlocksFor, resolveLeapBlocks } from './leap.js';
import type { LeapBlock } from './leap-table.js';

/** Which LAMs have their EMA twin updated after the backward passes. */
export type EmaUpdateRule = 'all' | 'last';

/**
 * Which head a LAM is put in front of. `auto`: the cascaded head when the module has one (MLM is
 * on), else the independent head (LAM alone). The last module never gets one (its head is the
 * backbone classifier).
 */
export type LeapTarget = 'auto' | 'cascade' | 'independent';

export const LAM_PROFILES = {
  paper: { emaDecay: 0.995, emaUpdates: 'all' },
  reference: { emaDecay: 0.995, emaUpdates: 'last' },
} as const satisfies Record<string, LamProfile>;

export type LamProfileName = keyof typeof LAM_PROFILES;

/** What a leap-list function is asked for. */
export interface LeapListRequest {
  moduleIndex: number;
  module: LocalModule;
  modules: readonly LocalModule[];
  backbone: Backbone;
  /** The list the tables or the rule would give. */
  defaultList: readonly LeapBlock[];
}

/**
 * Leap lists by module index (entries for the last module are ignored, so the authors' K-entry
 * lists can be given as they are), or a function returning a list (undefined: the default).
 */
export type LeapBlocksOption =
  | Readonly<Record<number, readonly LeapBlock[]>>
  | readonly (readonly LeapBlock[])[]
  | ((request: LeapListRequest) => readonly LeapBlock[] | undefined);

/** LAM's options, declared once: each rule is an option's type, default and check. */
const lamRules = {
  /** EMA decay d of the twin: m = d * m + (1 - d) * real, in (0, 1]. */
  emaDecay: option.finiteNumber({ min: 0, exclusiveMin: true, max: 1, meaning: 'the paper sweeps 0.99-0.999; 1 freezes the twin' }),
  /** `all` (paper) or only the last module's LAM (`resnetMLAAN.py`, which updates `EMA_Net[-1]`). */
  emaUpdates: option.oneOf<EmaUpdateRule>(['all', 'last']),
  /** Which head a leap net goes in front of (`auto`: the cascade head where MLM asks for one, else the independent one). */
  target: option.oneOf<LeapTarget>(['auto', 'cascade', 'independent'], 'auto'),
  /** Leap lists overriding the tables/rule (see `leapBlocksFor`). */
  leapBlocks: option.optional(
    option.custom<LeapBlocksOption>((value) =>
      typeof value === 'function' || (typeof value === 'object' && value !== null)
        ? undefined
        : 'must be an object or array of leap lists by module index, or a function',
    ),
  ),
  /** Most blocks in a rule-made leap net (default 4). */
  maxDepth: option.integer({ min: 1, meaning: 'blocks in a rule-made leap net' }, 4),
};

/** LAM's options once resolved: the profile's values, overridden by the options given. */
export type LamConfig = ConfigOf<typeof lamRules>;

/** What a profile sets. */
export type LamProfile = Pick<LamConfig, 'emaDecay' | 'emaUpdates'>;

/** What a leap net made of `sources` hands its head: the last block's channels and map size. */
export function leapOutputShape(sources: readonly BackboneBlock[], inputSize: number): HeadInput {
  const last = sources[sources.length - 1]!;
  return { channels: last.outputChannels, size: Math.ceil(inputSize / last.outputStride) };
}

/**
 * A leap auxiliary network (METHOD §5): deep copies of later backbone blocks, the first paired
 * with a frozen twin whose weights follow an EMA of the real block it copies:
 * `z = A[0](u) + M(u); z = A[1..](z)`. The twin's variables are non-trainable (no gradient, no
 * weight decay); gradients pass through it to u. Twin and copies run batch norm as the head's
 * context says (training mode in training, as in the authors' code); the EMA covers the twin's
 * parameters only, its running statistics advance with its own forwards.
 */
export class LeapNetwork {
  readonly copies: Layer[];
  readonly twin: Layer;
  /** Pairs (twin variable, real backbone variable) the EMA walks. */
  private readonly emaPairs: [tf.Variable, tf.Variable][];

  constructor(
    readonly moduleIndex: number,
    /** The backbone blocks copied, in order; `sources[0]` is the twin's real block. */
    readonly sources: readonly BackboneBlock[],
  ) {
    this.copies = sources.map((b) => b.layer.clone());
    this.twin = sources[0]!.layer.clone();
    const twinParameters = this.twin.namedParameters();
    const realParameters = new Map(sources[0]!.layer.namedParameters());
    this.emaPairs = twinParameters.map(([name, variable]) => {
      variable.trainable = false;
      const real = realParameters.get(name);
      if (!real) throw new LamError(`internal: twin parameter ${name} has no counterpart in block ${sources[0]!.name}`);
      return [variable, real];
    });
  }

  get prefix(): string {
    return `lam.${this.moduleIndex}`;
  }

  /** Output channels and square size of the leap net for the backbone's input size. */
  outputShape(inputSize: number): HeadInput {
    return leapOutputShape(this.sources, inputSize);
  }

  apply(features: tf.Tensor, context: ForwardContext): tf.Tensor {
    return tf.tidy(() => {
      let z = tf.add(this.copies[0]!.apply(features, context), this.twin.apply(features, context));
      for (let j = 1; j < this.copies.length; j++) z = this.copies[j]!.apply(z, context);
      return z;
    });
  }

  /** Trainable: `lam.<i>.blocks.<j>.*`. */
  namedParameters(): NamedVariable[] {
    return this.copies.flatMap((c, j) => prefixed(`${this.prefix}.blocks.${j}`, c.namedParameters()));
  }

  /** Checkpointed state: the copies' running statistics and the whole twin, `lam.<i>.ema.*`. */
  namedBuffers(): NamedVariable[] {
    return [
      ...this.copies.flatMap((c, j) => prefixed(`${this.prefix}.blocks.${j}`, c.namedBuffers())),
      ...prefixed(`${this.prefix}.ema`, [...this.twin.namedParameters(), ...this.twin.namedBuffers()]),
    ];
  }

  /** The real block's parameters the twin follows, by their backbone names: what `updateTwin` reads. */
  realParameters(): NamedVariable[] {
    const real = this.sources[0]!;
    return real.layer.namedParameters().map(([name, v]) => [`${real.name}.${name}`, v] as const);
  }

  /** m = d * m + (1 - d) * real, from the real block's current (pre-step) weights. */
  updateTwin(decay: number): void {
    if (decay === 1) return;
    tf.tidy(() => {
      for (const [twin, real] of this.emaPairs) twin.assign(tf.add(tf.mul(twin, decay), tf.mul(real, 1 - decay)));
    });
  }

  dispose(): void {
    for (const c of this.copies) c.dispose();
    this.twin.dispose();
  }
}

/** A head with a leap net in front of it; its variables are the leap net's plus the inner head's. */
export class LeapHead implements Head {
  readonly name: string;

  /** Per leap block: its parameters by the names its backward reports. */
  private readonly copyParameters: Map<string, tf.Variable>[];

  constructor(
    readonly inner: Head,
    readonly leap: LeapNetwork,
  ) {
    this.name = `${leap.prefix}>${inner.name}`;
    this.copyParameters = leap.copies.map((c) => new Map(c.namedParameters()));
  }

  namedParameters(): NamedVariable[] {
    return [...this.leap.namedParameters(), ...this.inner.namedParameters()];
  }

  namedBuffers(): NamedVariable[] {
    return [...this.leap.namedBuffers(), ...(this.inner.namedBuffers?.() ?? [])];
  }

  loss(features: tf.Tensor, batch: Batch, context: ForwardContext): tf.Scalar {
    return tf.tidy(() => this.inner.loss(this.leap.apply(features, context), batch, context));
  }

  /**
   * The leap net with the layers' traced forward and explicit backward (each block's activations
   * kept once, no autograd tape over the copies), the inner head under autograd. Same values and
   * gradients as `loss` under autograd; the twin gives an input gradient only.
   */
  lossAndGradients(features: tf.Tensor, batch: Batch, context: ForwardContext, weight: number): HeadGradients {
    const { copies, twin } = this.leap;
    const activations: Activation[] = [];
    let twinActivation: Activation | undefined;
    // The sum after copy 0 and the twin, when no later copy consumes (and frees) it.
    let unconsumedSum: tf.Tensor | undefined;
    try {
      // Same evaluation order as `apply`: copy 0, twin, then the later copies.
      const first = copies[0]!.forward(features, context);
      activations.push(first);
      twinActivation = twin.forward(features, context);
      let z = tf.add(first.output, twinActivation.output);
      first.output.dispose();
      twinActivation.output.dispose();
      if (copies.length === 1) unconsumedSum = z;
      for (let j = 1; j < copies.length; j++) {
        const a = copies[j]!.forward(z, context);
        activations.push(a);
        z.dispose();
        z = a.output;
      }
      // The inner head under autograd (or its own backward), as the trainer runs any head.
      const { loss, featureGradient, parameterGradients } = headLossAndGradients(this.inner, z, batch, context, weight);
      let dz = featureGradient;
      for (let j = copies.length - 1; j >= 0; j--) {
        const { input, parameters } = activations[j]!.backward(dz, { input: true, parameters: true });
        const named = this.copyParameters[j]!;
        for (const [name, g] of Object.entries(parameters ?? {})) {
          const variable = named.get(name);
          if (!variable) throw new LamError(`internal: leap block ${j} of module ${this.leap.moduleIndex} has no parameter ${name}`);
          parameterGradients.set(variable, g);
        }
        if (j > 0) {
          dz.dispose();
          dz = input!;
        } else {
          const throughTwin = twinActivation.backward(dz, { input: true, parameters: false }).input!;
          dz.dispose();
          const inputGradient = tf.add(input!, throughTwin);
          input!.dispose();
          throughTwin.dispose();
          return { loss, featureGradient: inputGradient, parameterGradients };
        }
      }
      throw new LamError('internal: a leap net has at least one block');
    } finally {
      for (const a of activations) a.dispose();
      twinActivation?.dispose();
      unconsumedSum?.dispose();
    }
  }

  dispose(): void {
    this.inner.dispose?.();
    this.leap.dispose();
  }
}

/** Whether a LAM with `target` goes in front of the head `request` asks for. */
export function servesHead(target: LeapTarget, request: Pick<HeadRequest, 'isLast' | 'role' | 'roles'>): boolean {
  if (request.isLast) return false;
  if (target === 'auto') return request.role === (request.roles.has('cascade') ? 'cascade' : 'independent');
  return request.role === target;
}

export interface LamPlugin extends LocalLearningPlugin {
  /** The leap nets built, by module index (after the trainer is constructed). */
  readonly networks: ReadonlyMap<number, LeapNetwork>;
  /** Leap lists of every module but the last (after setup). */
  readonly leapLists: ReadonlyMap<number, readonly LeapBlock[]>;
}

function userList(option: LeapBlocksOption | undefined, request: LeapListRequest): readonly LeapBlock[] | undefined {
  if (option === undefined) return undefined;
  if (typeof option === 'function') return option(request);
  return (option as Record<number, readonly LeapBlock[]>)[request.moduleIndex];
}

function checkUserModules(option: LeapBlocksOption | undefined, moduleCount: number): void {
  if (option === undefined || typeof option === 'function') return;
  for (const key of Object.keys(option)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= moduleCount) {
      throw new LamError(
        `lam(): leapBlocks has an entry for module ${key}, but the partition has modules 0-${moduleCount - 1}. Key leap lists by module index.`,
      );
    }
  }
}

/**
 * LAM (Leap Augmented Modules, METHOD §5) as a `wrapHead` plugin: for each module but the last, a
 * leap net of deep copies of later blocks (taken when the trainer is built, before any training)
 * goes in front of the head it serves; after every backward pass and before the optimizer step
 * the twins follow an EMA of the real blocks' pre-step weights.
 */
export const lam = definePlugin({ call: 'lam()', error: LamError, profiles: LAM_PROFILES, rules: lamRules }, (config): LamPlugin => {
  const networks = new Map<number, LeapNetwork>();
  const leapLists = new Map<number, readonly LeapBlock[]>();
  const sources = new Map<number, BackboneBlock[]>();
  let inputSize = 0;
  /** The leap nets whose twins follow the EMA: all, or the last module's (`emaUpdates`). */
  const updated = (): LeapNetwork[] => {
    if (networks.size === 0) return [];
    return config.emaUpdates === 'all' ? [...networks.values()] : [networks.get(Math.max(...networks.keys()))!];
  };
  return {
    name: 'lam',
    networks,
    leapLists,
    setup(context: SetupContext) {
      const { backbone, modules } = context;
      // A plugin object given to a second trainer starts over; the first trainer's heads own its nets.
      networks.clear();
      leapLists.clear();
      sources.clear();
      inputSize = backbone.inputSize;
      checkUserModules(config.leapBlocks, modules.length);
      for (const module of modules.slice(0, -1)) {
        const defaultList = leapBlocksFor(backbone, modules, module.index, { maxDepth: config.maxDepth });
        const request: LeapListRequest = { moduleIndex: module.index, module, modules, backbone, defaultList };
        const list = userList(config.leapBlocks, request) ?? defaultList;
        sources.set(module.index, resolveLeapBlocks(backbone, module, list));
        leapLists.set(module.index, list.map((b) => [b[0], b[1]] as const));
      }
    },
    headInput(request: HeadRequest): HeadInput | undefined {
      if (!servesHead(config.target, request)) return undefined;
      const blocks = sources.get(request.moduleIndex);
      return blocks ? leapOutputShape(blocks, inputSize) : undefined;
    },
    wrapHead(head: Head, request: HeadRequest): Head {
      if (!servesHead(config.target, request)) return head;
      const blocks = sources.get(request.moduleIndex);
      if (!blocks) return head;
      if (networks.has(request.moduleIndex)) {
        throw new LamError(`lam(): module ${request.moduleIndex} asked for two leap nets; one LAM serves one head per module.`);
      }
      const network = new LeapNetwork(request.moduleIndex, blocks);
      networks.set(request.moduleIndex, network);
      return new LeapHead(head, network);
    },
    afterBackward(context: StepContext) {
      const { first, end } = context.range;
      for (const network of updated()) if (network.moduleIndex >= first && network.moduleIndex < end) network.updateTwin(config.emaDecay);
    },
    stateReads(moduleIndex: number): NamedVariable[] {
      const network = updated().find((n) => n.moduleIndex === moduleIndex);
      return network ? network.realParameters() : [];
    },
    dispose() {
      // The leap nets belong to the heads that wrap them; the trainer disposes heads.
      networks.clear();
    },
  };
});

/** What `lam()` takes: every option of `LamConfig` (optional) and `profile`. */
export type LamOptions = PluginOptions<typeof lam>;

/** The profile's values overridden by the options given, validated. */
export function resolveLamOptions(options: LamOptions = {}): LamConfig {
  return lam.options.resolve(options);
}
