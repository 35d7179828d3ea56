import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbone/backbone.js';
import { CutPoint, LocalModule, partition } from '../backbone/partition.js';
import { ConfigError, ShapeError } from '../errors.js';
import { Activation, EVAL, ForwardContext, NamedVariable, TRAIN } from '../layers/layer.js';
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
 * them, so only a window of modules is alive at a time. End-to-end training is the K = 1 case.
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
  /** Per module: its parameters by name, to route the backward's named gradients. */
  private readonly moduleParameters: Map<string, tf.Variable>[];
  /** The last module's widest-span term: its loss is the E2E-comparable `loss`. */
  private readonly finalTerm: string | undefined;
  private readonly variableNames = new Map<tf.Variable, string>();
  private readonly trainable: NamedVariable[];
  private readonly state: NamedVariable[];
  private readonly classifierHead: ClassifierHead;
  private readonly context: SetupContext;

  constructor(options: TrainerOptions) {
    this.backbone = options.backbone;
    this.modules = partition(options.backbone, options.cuts ?? []);
    this.plugins = orderPlugins(options.plugins ?? []);
    this.mode = options.mode ?? 'simultaneous';
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
    if (this.mode === 'sequential' && terms.some((t) => t.span[0] !== t.span[1])) {
      throw new ConfigError(
        "mode 'sequential' steps each module right after its own loss, so it cannot take losses that span several modules (MLM's cascade); use mode 'simultaneous'.",
      );
    }

    this.trainable = this.collectNamed('parameters');
    this.state = this.collectNamed('buffers');
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
    const K = this.modules.length;
    const activations: (Activation | undefined)[] = new Array(K);
    const cotangents: (tf.Tensor | undefined)[] = new Array(K);
    const lossTensors: [string, tf.Scalar][] = [];
    const accumulate = (v: tf.Variable, g: tf.Tensor) => {
      const prev = sink.get(v);
      if (prev) {
        sink.set(v, tf.add(prev, g));
        prev.dispose();
        g.dispose();
      } else sink.set(v, g);
    };
    const addCotangent = (m: number, dy: tf.Tensor) => {
      const prev = cotangents[m];
      if (prev) {
        cotangents[m] = tf.add(prev, dy);
        prev.dispose();
      } else cotangents[m] = dy.clone();
    };
    try {
      let input: tf.Tensor = batch.inputs;
      for (let e = 0; e < K; e++) {
        const activation = this.modules[e]!.forward(input, context);
        activations[e] = activation;
        if (input !== batch.inputs) input.dispose();
        input = activation.output.clone();
        for (const plan of this.plans[e]!) {
          const { term, head, headVariables } = plan;
          const features = activation.output;
          let dy: tf.Tensor;
          if (head.lossAndGradients) {
            const result = head.lossAndGradients(features, batch, context, term.weight);
            lossTensors.push([term.name, result.loss]);
            for (const [v, g] of result.parameterGradients) accumulate(v, g);
            dy = result.featureGradient;
          } else {
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
            dy = grads[0] ?? tf.zerosLike(features);
          }
          for (let m = e; m >= term.span[0]; m--) {
            addCotangent(m, dy);
            if (m > term.span[0]) {
              const next = activations[m]!.backward(dy, { input: true, parameters: false }).input!;
              dy.dispose();
              dy = next;
            }
          }
          dy.dispose();
        }
        for (let m = 0; m <= e; m++) {
          if (this.lastUse[m] !== e || !activations[m]) continue;
          const cotangent = cotangents[m];
          if (cotangent) {
            const { parameters } = activations[m]!.backward(cotangent, { input: false, parameters: true });
            cotangent.dispose();
            cotangents[m] = undefined;
            const named = this.moduleParameters[m]!;
            for (const [name, g] of Object.entries(parameters ?? {})) {
              const v = named.get(name);
              if (!v) throw new Error(`internal: gradient for unknown parameter ${name}`);
              accumulate(v, g);
            }
          }
          activations[m]!.dispose();
          activations[m] = undefined;
          onModuleDone?.(m);
        }
      }
      if (input !== batch.inputs) input.dispose();
    } finally {
      for (const a of activations) a?.dispose();
      for (const c of cotangents) c?.dispose();
    }
    const losses: Record<string, number> = {};
    for (const [name, t] of lossTensors) {
      losses[name] = t.dataSync()[0]!;
      t.dispose();
    }
    return { losses, loss: this.finalTerm ? losses[this.finalTerm]! : NaN };
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
