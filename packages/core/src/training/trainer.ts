import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbone/backbone.js';
import { CutPoint, LocalModule, partition } from '../backbone/partition.js';
import { ConfigError, ShapeError } from '../errors.js';
import { setReluTieBreaker } from '../layers/activation.js';
import { Activation, EVAL, ForwardContext, NamedVariable, TRAIN } from '../layers/layer.js';
import { heldBufferBytes } from '../meters/meters.js';
import { SeededRandom } from '../random.js';
import { ClassifierHead } from './heads.js';
import { countErrors, crossEntropy } from './losses.js';
import { SgdOptimizer, SgdOptions } from './optimizer.js';
import {
  Batch,
  Head,
  headKey,
  HeadRequest,
  HeadRole,
  LocalLearningPlugin,
  LossTerm,
  orderPlugins,
  SetupContext,
  StepContext,
} from './plugin.js';

export type TrainingMode = 'simultaneous' | 'sequential';

/**
 * What happens to a module's saved activations while losses that span several modules (MLM's
 * cascades) still need them.
 * - `keep`: each module's traced forward stays alive until the last term through it is done, so a
 *   window of modules is alive at once; nothing is computed twice.
 * - `recompute`: one more forward per module buys memory, in whichever of two schedules holds
 *   fewer activation bytes at its peak (`RecomputeSchedule`), from what each module's traced
 *   forward keeps on a two-image batch (measured once, before the first step).
 * - `auto` (default): `recompute` when some term spans several modules, else `keep` (nothing could
 *   be saved then: every module's activations are used at once and freed).
 * - `window` or `sweep`: `recompute` with that schedule, not the measured choice.
 */
export type ActivationPolicy = 'keep' | 'recompute' | 'auto' | 'window' | 'sweep';

/**
 * How a step holds module activations (`LocalTrainer.schedule`).
 * - `keep`: the `keep` policy.
 * - `window`: as `keep`, except that a module whose remaining terms all start at it (it owes them
 *   only its weight gradient, e.g. the first module of a cascade window) drops its activations
 *   while those terms' heads run, and is re-run once from its input for that gradient.
 * - `sweep`: every module is forwarded and its heads run keeping only its output and the
 *   cotangents the heads left; then the modules are walked from the last to the first, each
 *   re-running its traced forward right before its backward: one module's activations at a time.
 * With few large modules (ResNet-32, K = 4 or 8, a 3-module window) the window is most of the
 * backbone and `sweep` holds less; with many small ones (K = 16) the outputs and cotangents
 * `sweep` holds for every module outweigh a window of a few blocks, and `window` holds less.
 * Re-run forwards use the same batch statistics and do not advance running statistics.
 */
export type ActivationSchedule = 'keep' | 'window' | 'sweep';

export interface TrainerOptions {
  backbone: Backbone;
  /** Cut points (METHOD §2 or `getSplit`); none means end-to-end training as one module. */
  cuts?: readonly CutPoint[];
  plugins?: readonly LocalLearningPlugin[];
  optimizer?: Partial<SgdOptions>;
  /**
   * `simultaneous` (InfoPro/MLAAN): accumulate every local gradient, then one step.
   * `sequential` (original DGL): each module and its heads step right after their own loss.
   */
  mode?: TrainingMode;
  /** Keep or recompute module activations for losses that span several modules (default `auto`). */
  activations?: ActivationPolicy;
  seed?: number;
}

export interface StepResult {
  /** Unweighted value of every loss term, by term name. */
  losses: Record<string, number>;
  /** The last module's loss (its widest-span term): the E2E-comparable training loss. */
  loss: number;
  batchSize: number;
}

export interface GradientResult {
  /** Accumulated gradients by variable name, before weight decay. Caller disposes. */
  gradients: Map<string, tf.Tensor>;
  losses: Record<string, number>;
  loss: number;
}

export interface EvaluationResult {
  /** Top-1 error in [0, 1]. */
  error: number;
  loss: number;
  count: number;
}

interface TermPlan {
  term: LossTerm;
  head: Head;
  headVariables: tf.Variable[];
}

/**
 * Trains a partitioned backbone with gradient-isolated local losses.
 *
 * Each module is forwarded once per step with a traced activation. A loss term over modules
 * s..e takes its head's gradient at module e's output and walks it back through the saved
 * activations of e..s (input gradients only); every cotangent that reaches a module is summed,
 * and one parameter backward per module turns the sum into its weight gradients (linearity of
 * the backward in the output gradient). Activations are freed as soon as no later term can reach
 * them, so only a window of modules is alive at a time; with `activations: 'recompute'` (the
 * default when terms span several modules) modules are re-run from their inputs rather than held
 * (`ActivationSchedule`). End-to-end training is the K = 1 case.
 */
export class LocalTrainer {
  readonly backbone: Backbone;
  readonly modules: readonly LocalModule[];
  readonly plugins: readonly LocalLearningPlugin[];
  readonly terms: readonly LossTerm[];
  readonly heads: ReadonlyMap<string, Head>;
  readonly optimizer: SgdOptimizer;
  readonly mode: TrainingMode;
  readonly random: SeededRandom;
  stepCount = 0;
  epoch = 0;

  private readonly plans: TermPlan[][];
  private readonly lastUse: number[];
  /**
   * Per module: the step from which it needs only its weight gradient (every later term through
   * it starts at it) while some term still ends there or later, so `keep` can drop it while those
   * heads run; -1 when that never happens.
   */
  private readonly parkAt: number[];
  /** Per module: its parameters by name, to route the backward's named gradients. */
  private readonly moduleParameters: Map<string, tf.Variable>[];
  /** The last module's widest-span term: its loss is the E2E-comparable `loss`. */
  private readonly finalTerm: string | undefined;
  private readonly variableNames = new Map<tf.Variable, string>();
  private readonly trainable: NamedVariable[];
  private readonly state: NamedVariable[];
  private readonly classifierHead: ClassifierHead;
  private readonly context: SetupContext;
  private readonly activationPolicy: 'keep' | 'recompute';
  private chosenSchedule?: ActivationSchedule;

  constructor(options: TrainerOptions) {
    this.backbone = options.backbone;
    this.modules = partition(options.backbone, options.cuts ?? []);
    this.plugins = orderPlugins(options.plugins ?? []);
    this.mode = options.mode ?? 'simultaneous';
    const policy = options.activations ?? 'auto';
    if (!['keep', 'recompute', 'auto', 'window', 'sweep'].includes(policy)) {
      throw new ConfigError(`activations must be 'keep', 'recompute', 'auto', 'window' or 'sweep'; got ${JSON.stringify(policy)}.`);
    }
    if (policy !== 'keep' && policy !== 'auto' && this.mode === 'sequential') {
      throw new ConfigError(
        `mode 'sequential' trains each module from its own losses alone, so activations '${policy}' has nothing to recompute; use 'keep' or 'auto'.`,
      );
    }
    this.random = new SeededRandom(options.seed ?? 0);
    this.optimizer = new SgdOptimizer({ learningRate: 0.1, ...options.optimizer });
    this.classifierHead = new ClassifierHead(this.backbone);
    const names = this.plugins.map((p) => p.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) throw new ConfigError(`Plugin '${duplicate}' was given twice; each plugin may appear once.`);

    this.context = {
      backbone: this.backbone,
      modules: this.modules,
      classes: this.backbone.classes,
      plugins: names,
      random: this.random,
    };
    for (const p of this.plugins) p.setup?.(this.context);

    let terms: LossTerm[] = this.modules.map((m) => ({
      name: `module${m.index}.independent`,
      span: [m.index, m.index] as const,
      role: 'independent' as const,
      weight: 1,
    }));
    for (const p of this.plugins) if (p.terms) terms = p.terms(terms, this.context);
    this.terms = terms;
    this.validateTerms();

    const heads = new Map<string, Head>();
    const rolesByModule = new Map<number, Set<HeadRole>>();
    for (const t of terms) {
      const roles = rolesByModule.get(t.span[1]) ?? new Set<HeadRole>();
      roles.add(t.role);
      rolesByModule.set(t.span[1], roles);
    }
    for (const t of terms) {
      const key = headKey(t.span[1], t.role);
      if (heads.has(key)) continue;
      heads.set(key, this.resolveHead(t.span[1], t.role, rolesByModule.get(t.span[1])!));
    }
    this.heads = heads;

    this.plans = this.modules.map(() => []);
    for (const t of terms) {
      const head = heads.get(headKey(t.span[1], t.role))!;
      this.plans[t.span[1]]!.push({ term: t, head, headVariables: head.namedParameters().map(([, v]) => v) });
    }
    this.moduleParameters = this.modules.map((m) => new Map(m.namedParameters()));
    this.finalTerm = this.plans[this.modules.length - 1]!.reduce<TermPlan | undefined>(
      (best, p) => (!best || p.term.span[1] - p.term.span[0] > best.term.span[1] - best.term.span[0] ? p : best),
      undefined,
    )?.term.name;
    this.lastUse = this.modules.map((m) => Math.max(m.index, ...terms.filter((t) => t.span[0] <= m.index && m.index <= t.span[1]).map((t) => t.span[1])));
    this.parkAt = this.modules.map((m) => {
      const last = this.lastUse[m.index]!;
      if (last === m.index) return -1;
      for (let e = m.index + 1; e <= last; e++) {
        const through = terms.filter((t) => t.span[1] >= e && t.span[0] <= m.index && t.span[1] >= m.index);
        if (through.every((t) => t.span[0] === m.index)) return e;
      }
      return -1;
    });
    const spansSeveral = terms.some((t) => t.span[0] !== t.span[1]);
    if (this.mode === 'sequential' && spansSeveral) {
      throw new ConfigError(
        "mode 'sequential' steps each module right after its own loss, so it cannot take losses that span several modules (MLM's cascade); use mode 'simultaneous'.",
      );
    }
    this.activationPolicy = policy === 'keep' || (policy === 'auto' && !spansSeveral) ? 'keep' : 'recompute';
    if (this.activationPolicy === 'keep' || !spansSeveral) this.chosenSchedule = 'keep';
    else if (policy === 'window' || policy === 'sweep') this.chosenSchedule = policy;

    this.trainable = this.collectNamed('parameters');
    this.state = this.collectNamed('buffers');
  }

  /** The activation policy in force (`auto` resolved). */
  get activations(): 'keep' | 'recompute' {
    return this.activationPolicy;
  }

  /** How steps hold module activations (measured before the first step when it must be chosen). */
  get schedule(): ActivationSchedule {
    return (this.chosenSchedule ??= this.chooseRecomputeSchedule());
  }

  /**
   * `window` or `sweep`, by their peaks of module activation bytes: what each module's traced
   * forward keeps (its output included) on a two-image batch. `window` holds the modules of the
   * current step but the dropped ones, whose inputs it keeps, and re-runs one after the heads;
   * `sweep` holds every earlier module's output and the cotangents its heads left (one per
   * distinct span start) plus one module's activations. Heads run the same way under both.
   */
  private chooseRecomputeSchedule(): ActivationSchedule {
    const K = this.modules.length;
    const kept: number[] = [];
    const outputs: number[] = [];
    const probe: ForwardContext = { training: true, updateStatistics: false };
    const size = this.backbone.inputSize;
    const breaker = setReluTieBreaker(undefined);
    let input: tf.Tensor = tf.zeros([2, size, size, this.backbone.inputChannels]);
    try {
      for (const module of this.modules) {
        const { result: activation, bytes } = heldBufferBytes(() => module.forward(input, probe));
        kept.push(bytes);
        outputs.push(activation.output.size * tf.util.bytesPerElement(activation.output.dtype));
        input.dispose();
        input = activation.output.clone();
        activation.dispose();
      }
    } finally {
      input.dispose();
      setReluTieBreaker(breaker);
    }
    let windowPeak = 0;
    for (let e = 0; e < K; e++) {
      let held = 0;
      let rerun = 0;
      for (let m = 0; m <= e; m++) {
        if (this.lastUse[m]! < e) continue;
        const parked = this.parkAt[m]! >= 0 && this.parkAt[m]! <= e;
        held += parked ? (m > 0 ? outputs[m - 1]! : 0) : kept[m]!;
        if (parked && this.lastUse[m] === e) rerun = Math.max(rerun, kept[m]!);
      }
      windowPeak = Math.max(windowPeak, held + rerun);
    }
    let sweepPeak = 0;
    let stored = 0;
    for (let m = 0; m < K; m++) {
      const groups = new Set(this.plans[m]!.map((p) => p.term.span[0])).size;
      sweepPeak = Math.max(sweepPeak, stored + kept[m]! + groups * outputs[m]!);
      stored += (1 + groups) * outputs[m]!;
    }
    return sweepPeak < windowPeak ? 'sweep' : 'window';
  }

  private resolveHead(moduleIndex: number, role: HeadRole, roles: Set<HeadRole>): Head {
    const module = this.modules[moduleIndex]!;
    const request: HeadRequest = {
      moduleIndex,
      role,
      module,
      isLast: moduleIndex === this.modules.length - 1,
      roles,
      input: { channels: module.outputChannels, size: module.outputSize(this.backbone.inputSize) },
    };
    for (const p of this.plugins) request.input = p.headInput?.(request, this.context) ?? request.input;
    let head: Head | undefined;
    for (const p of this.plugins) {
      head = p.createHead?.(request, this.context);
      if (head) break;
    }
    if (!head && request.isLast) head = this.classifierHead;
    if (!head) {
      throw new ConfigError(
        `No plugin provides a ${role} head for module ${moduleIndex}. Add a host plugin such as dgl() from @mlaan/dgl or infoPro() from @mlaan/infopro.`,
      );
    }
    for (const p of this.plugins) if (p.wrapHead) head = p.wrapHead(head, request, this.context);
    return head;
  }

  private validateTerms(): void {
    const K = this.modules.length;
    const names = new Set<string>();
    for (const t of this.terms) {
      const [s, e] = t.span;
      if (!(Number.isInteger(s) && Number.isInteger(e) && s >= 0 && s <= e && e < K)) {
        throw new ConfigError(`Loss term '${t.name}' has span [${s}, ${e}], outside the ${K} modules.`);
      }
      if (!(t.weight >= 0) || !Number.isFinite(t.weight)) {
        throw new ConfigError(`Loss term '${t.name}' has weight ${t.weight}; weights must be finite and >= 0.`);
      }
      if (names.has(t.name)) throw new ConfigError(`Two loss terms are named '${t.name}'.`);
      names.add(t.name);
    }
  }

  private collectNamed(kind: 'parameters' | 'buffers'): NamedVariable[] {
    const out: NamedVariable[] = [];
    const seen = new Set<tf.Variable>();
    const byName = new Map<string, tf.Variable>();
    const add = (list: NamedVariable[]) => {
      for (const [name, v] of list) {
        if (seen.has(v)) continue;
        const other = byName.get(name);
        if (other && other !== v) throw new ConfigError(`Two different variables are both named '${name}'.`);
        seen.add(v);
        byName.set(name, v);
        this.variableNames.set(v, name);
        out.push([name, v]);
      }
    };
    if (kind === 'parameters') {
      add(this.backbone.namedParameters());
      for (const h of this.heads.values()) add(h.namedParameters());
      for (const p of this.plugins) if (p.namedParameters) add(p.namedParameters());
    } else {
      add(this.backbone.namedBuffers());
      for (const h of this.heads.values()) if (h.namedBuffers) add(h.namedBuffers());
      for (const p of this.plugins) if (p.namedBuffers) add(p.namedBuffers());
    }
    return out;
  }

  /** Every trainable variable (backbone, heads, plugins), named and deduplicated. */
  namedParameters(): NamedVariable[] {
    return this.trainable;
  }

  /** Non-trainable state: running statistics, EMA twins. */
  namedBuffers(): NamedVariable[] {
    return this.state;
  }

  get learningRate(): number {
    return this.optimizer.learningRate;
  }

  set learningRate(value: number) {
    this.optimizer.learningRate = value;
  }

  private checkBatch(batch: Batch): void {
    const s = batch.inputs.shape;
    if (batch.inputs.rank !== 4 || s[3] !== this.backbone.inputChannels) {
      throw new ShapeError(
        `Batch inputs must be NHWC with ${this.backbone.inputChannels} channels; got [${s.join(', ')}]. Convert NCHW with tf.transpose(x, [0, 2, 3, 1]).`,
      );
    }
    if (batch.labels.rank !== 1 || batch.labels.shape[0] !== s[0]) {
      throw new ShapeError(`Batch labels must be a vector of ${s[0]} class indices; got [${batch.labels.shape.join(', ')}].`);
    }
  }

  /**
   * Run a term's head on a module's output: its parameter gradients go to `accumulate`, its
   * unweighted loss to `lossTensors`; returns d(weight * loss)/d(features), owned by the caller.
   */
  private headCotangent(
    plan: TermPlan,
    features: tf.Tensor,
    batch: Batch,
    context: ForwardContext,
    accumulate: (v: tf.Variable, g: tf.Tensor) => void,
    lossTensors: [string, tf.Scalar][],
  ): tf.Tensor {
    const { term, head, headVariables } = plan;
    if (head.lossAndGradients) {
      const result = head.lossAndGradients(features, batch, context, term.weight);
      lossTensors.push([term.name, result.loss]);
      for (const [v, g] of result.parameterGradients) accumulate(v, g);
      return result.featureGradient;
    }
    let raw: tf.Scalar | undefined;
    const { value, grads } = tf.engine().gradients(
      () => {
        raw = tf.keep(head.loss(features, batch, context));
        return tf.mul(raw, term.weight) as tf.Scalar;
      },
      [features, ...headVariables],
      undefined,
      true,
    );
    value.dispose();
    lossTensors.push([term.name, raw!]);
    headVariables.forEach((v, i) => {
      const g = grads[i + 1];
      if (g) accumulate(v, g);
    });
    return grads[0] ?? tf.zerosLike(features);
  }

  /** A module's parameter gradients, routed from the backward's names to its variables. */
  private accumulateModuleGradients(m: number, parameters: Record<string, tf.Tensor> | undefined, accumulate: (v: tf.Variable, g: tf.Tensor) => void): void {
    const named = this.moduleParameters[m]!;
    for (const [name, g] of Object.entries(parameters ?? {})) {
      const v = named.get(name);
      if (!v) throw new Error(`internal: gradient for unknown parameter ${name}`);
      accumulate(v, g);
    }
  }

  /**
   * Forward and backward over every loss term; gradients accumulate into `sink`. With
   * `onModuleDone`, a module's gradients (and its heads') are handed over as soon as they are final.
   */
  private backwardPass(
    batch: Batch,
    context: ForwardContext,
    sink: Map<tf.Variable, tf.Tensor>,
    onModuleDone?: (moduleIndex: number) => void,
  ): { losses: Record<string, number>; loss: number } {
    this.checkBatch(batch);
    const lossTensors: [string, tf.Scalar][] = [];
    const accumulate = (v: tf.Variable, g: tf.Tensor) => {
      const prev = sink.get(v);
      if (prev) {
        sink.set(v, tf.add(prev, g));
        prev.dispose();
        g.dispose();
      } else sink.set(v, g);
    };
    try {
      const schedule = this.schedule;
      if (schedule === 'sweep') this.sweepSchedule(batch, context, accumulate, lossTensors);
      else this.keepSchedule(batch, context, accumulate, lossTensors, schedule === 'window', onModuleDone);
    } catch (error) {
      for (const [, t] of lossTensors) t.dispose();
      throw error;
    }
    const losses: Record<string, number> = {};
    for (const [name, t] of lossTensors) {
      losses[name] = t.dataSync()[0]!;
      t.dispose();
    }
    return { losses, loss: this.finalTerm ? losses[this.finalTerm]! : NaN };
  }

  /**
   * Each module's traced forward is kept until its last use; a term's cotangent is walked back
   * through its span as soon as its head has run. With `park`, a module that owes its remaining
   * terms only its weight gradient is dropped (its input kept) and re-run once for it.
   */
  private keepSchedule(
    batch: Batch,
    context: ForwardContext,
    accumulate: (v: tf.Variable, g: tf.Tensor) => void,
    lossTensors: [string, tf.Scalar][],
    park: boolean,
    onModuleDone?: (moduleIndex: number) => void,
  ): void {
    const K = this.modules.length;
    const activations: (Activation | undefined)[] = new Array(K);
    const cotangents: (tf.Tensor | undefined)[] = new Array(K);
    const addCotangent = (m: number, dy: tf.Tensor) => {
      const prev = cotangents[m];
      if (prev) {
        cotangents[m] = tf.add(prev, dy);
        prev.dispose();
      } else cotangents[m] = dy.clone();
    };
    const replay: ForwardContext = { ...context, updateStatistics: false };
    /** Inputs of the modules that will be dropped (shared with the previous module's output). */
    const inputs: (tf.Tensor | undefined)[] = new Array(K);
    let input: tf.Tensor = batch.inputs;
    try {
      for (let e = 0; e < K; e++) {
        // A module that from now on owes only its weight gradient waits without its activations
        // while this step's forward and heads run; it is re-run once for that gradient below.
        for (let m = 0; m < e && park; m++) {
          if (this.parkAt[m] === e) {
            activations[m]?.dispose();
            activations[m] = undefined;
          }
        }
        const activation = this.modules[e]!.forward(input, context);
        activations[e] = activation;
        if (park && this.parkAt[e]! >= 0) inputs[e] = input.clone();
        if (input !== batch.inputs) input.dispose();
        input = activation.output.clone();
        for (const plan of this.plans[e]!) {
          let dy = this.headCotangent(plan, activation.output, batch, context, accumulate, lossTensors);
          for (let m = e; m >= plan.term.span[0]; m--) {
            addCotangent(m, dy);
            if (m > plan.term.span[0]) {
              const next = activations[m]!.backward(dy, { input: true, parameters: false }).input!;
              dy.dispose();
              dy = next;
            }
          }
          dy.dispose();
        }
        for (let m = 0; m <= e; m++) {
          if (this.lastUse[m] !== e) continue;
          const cotangent = cotangents[m];
          if (cotangent) {
            const traced = activations[m] ?? this.modules[m]!.forward(inputs[m]!, replay);
            let parameters: Record<string, tf.Tensor> | undefined;
            try {
              parameters = traced.backward(cotangent, { input: false, parameters: true }).parameters;
            } finally {
              if (traced !== activations[m]) traced.dispose();
            }
            cotangent.dispose();
            cotangents[m] = undefined;
            this.accumulateModuleGradients(m, parameters, accumulate);
          }
          activations[m]?.dispose();
          activations[m] = undefined;
          inputs[m]?.dispose();
          inputs[m] = undefined;
          onModuleDone?.(m);
        }
      }
    } finally {
      if (input !== batch.inputs) input.dispose();
      for (const a of activations) a?.dispose();
      for (const c of cotangents) c?.dispose();
      for (const t of inputs) t?.dispose();
    }
  }

  /**
   * Forward every module keeping only its output and run its heads; then, from the last module
   * to the first, re-run each module's traced forward from its saved input (batch statistics as
   * before, running statistics not advanced again) and take its backward: parameter gradients
   * from every cotangent at its output, and one input gradient per group of terms that continue
   * below it (grouped by where their span starts, which is where they stop).
   */
  private sweepSchedule(
    batch: Batch,
    context: ForwardContext,
    accumulate: (v: tf.Variable, g: tf.Tensor) => void,
    lossTensors: [string, tf.Scalar][],
  ): void {
    const K = this.modules.length;
    const replay: ForwardContext = { ...context, updateStatistics: false };
    /** inputs[m]: what module m was given (the batch, or module m-1's output). */
    const inputs: tf.Tensor[] = [batch.inputs];
    /** groups[m]: cotangents at module m's output by the first module of their terms' span. */
    const groups: Map<number, tf.Tensor>[] = this.modules.map(() => new Map());
    const addGroup = (m: number, spanStart: number, dy: tf.Tensor) => {
      const prev = groups[m]!.get(spanStart);
      if (prev) {
        groups[m]!.set(spanStart, tf.add(prev, dy));
        prev.dispose();
        dy.dispose();
      } else groups[m]!.set(spanStart, dy);
    };
    let last: Activation | undefined;
    try {
      for (let e = 0; e < K; e++) {
        const activation = this.modules[e]!.forward(inputs[e]!, context);
        let output = activation.output;
        if (e === K - 1) last = activation;
        else {
          // Only the output outlives the forward; the backward re-runs it.
          output = output.clone();
          activation.dispose();
          inputs.push(output);
        }
        for (const plan of this.plans[e]!) addGroup(e, plan.term.span[0], this.headCotangent(plan, output, batch, context, accumulate, lossTensors));
      }
      for (let m = K - 1; m >= 0; m--) {
        const atOutput = groups[m]!;
        if (atOutput.size === 0) {
          if (m > 0) inputs[m]!.dispose();
          continue;
        }
        const activation = m === K - 1 ? last! : this.modules[m]!.forward(inputs[m]!, replay);
        // Module m - 1's output has served its heads and this forward.
        if (m > 0) inputs[m]!.dispose();
        try {
          const total = tf.tidy(() => [...atOutput.values()].reduce((sum, g) => (sum ? tf.add(sum, g) : g.clone()), undefined as tf.Tensor | undefined)!);
          const { parameters } = activation.backward(total, { input: false, parameters: true });
          total.dispose();
          this.accumulateModuleGradients(m, parameters, accumulate);
          for (const [spanStart, g] of atOutput) {
            if (spanStart < m) addGroup(m - 1, spanStart, activation.backward(g, { input: true, parameters: false }).input!);
          }
        } finally {
          activation.dispose();
          if (activation === last) last = undefined;
          for (const g of atOutput.values()) g.dispose();
          atOutput.clear();
        }
      }
    } finally {
      last?.dispose();
      for (const t of inputs.slice(1)) if (!t.isDisposed) t.dispose();
      for (const g of groups) for (const t of g.values()) t.dispose();
    }
  }

  /** Accumulated gradients of every local loss, named, before weight decay; no step is taken. */
  computeGradients(batch: Batch, options: { runAfterBackward?: boolean } = {}): GradientResult {
    const sink = new Map<tf.Variable, tf.Tensor>();
    const { losses, loss } = this.backwardPass(batch, TRAIN, sink);
    if (options.runAfterBackward) this.runAfterBackward();
    const gradients = new Map<string, tf.Tensor>();
    for (const [v, g] of sink) gradients.set(this.variableNames.get(v) ?? v.name, g);
    return { gradients, losses, loss };
  }

  private runAfterBackward(): void {
    const context: StepContext = {
      step: this.stepCount,
      epoch: this.epoch,
      backbone: this.backbone,
      modules: this.modules,
      heads: this.heads,
    };
    for (const p of this.plugins) p.afterBackward?.(context);
  }

  /** One training step on a batch: every local loss, plugin state updates, then SGD. */
  step(batch: Batch): StepResult {
    const sink = new Map<tf.Variable, tf.Tensor>();
    let result: { losses: Record<string, number>; loss: number };
    try {
      if (this.mode === 'sequential') {
        const owned = this.moduleOwnedVariables();
        result = this.backwardPass(batch, TRAIN, sink, (m) => {
          const part = new Map<tf.Variable, tf.Tensor>();
          for (const v of owned[m]!) {
            const g = sink.get(v);
            if (g) {
              part.set(v, g);
              sink.delete(v);
            }
          }
          this.optimizer.step(part);
          for (const g of part.values()) g.dispose();
        });
        this.runAfterBackward();
        this.optimizer.step(sink);
      } else {
        result = this.backwardPass(batch, TRAIN, sink);
        this.runAfterBackward();
        this.optimizer.step(sink);
      }
    } finally {
      for (const g of sink.values()) g.dispose();
    }
    this.stepCount += 1;
    return { ...result, batchSize: batch.inputs.shape[0] };
  }

  /** Variables each module steps in sequential mode: its own and those of heads at its output. */
  private moduleOwnedVariables(): tf.Variable[][] {
    const claimed = new Set<tf.Variable>();
    return this.modules.map((m, i) => {
      const vars = [...m.parameters()];
      for (const plan of this.plans[i]!) vars.push(...plan.headVariables);
      return vars.filter((v) => (claimed.has(v) ? false : (claimed.add(v), true)));
    });
  }

  /** Top-1 error and mean cross-entropy of the backbone's classifier in eval mode. */
  async evaluate(batches: Iterable<Batch> | AsyncIterable<Batch>): Promise<EvaluationResult> {
    let errors = 0;
    let count = 0;
    let lossSum = 0;
    for await (const batch of batches as AsyncIterable<Batch>) {
      this.checkBatch(batch);
      const n = batch.inputs.shape[0];
      const { wrong, loss } = tf.tidy(() => {
        const logits = this.backbone.apply(batch.inputs, EVAL);
        return { wrong: countErrors(logits, batch.labels), loss: crossEntropy(logits, batch.labels).dataSync()[0]! };
      });
      errors += wrong;
      lossSum += loss * n;
      count += n;
    }
    if (count === 0) throw new ConfigError('evaluate() received no batches.');
    return { error: errors / count, loss: lossSum / count, count };
  }

  dispose(): void {
    for (const p of [...this.plugins].reverse()) p.dispose?.();
    for (const h of new Set(this.heads.values())) h.dispose?.();
    this.optimizer.dispose();
  }
}
