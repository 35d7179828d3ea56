import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbone/backbone.js';
import { CutPoint, LocalModule, partition } from '../backbone/partition.js';
import { ConfigError } from '../errors.js';
import { EVAL, NamedVariable, TRAIN } from '../layers/layer.js';
import { SeededRandom } from '../random.js';
import {
  ActivationPolicy,
  ActivationSchedule,
  checkActivationPolicy,
  decideActivationSchedule,
  measureModuleActivations,
} from './activation-memory.js';
import { BackwardPass, HeadedTerm, runBackward } from './backward-schedules.js';
import { checkBatch } from './batch-checks.js';
import { GradientSink } from './gradient-sink.js';
import { ClassifierHead } from './heads.js';
import { countErrors, crossEntropy } from './losses.js';
import { SgdOptimizer, SgdOptions } from './optimizer.js';
import type { Batch, Head, LocalLearningPlugin, LossTerm, SetupContext, StepContext } from './plugin.js';
import { collectNamedVariables, headKey, moduleParameterMaps, PluginHost } from './plugin-host.js';
import { checkModuleRange, defaultTerms, planTerms, TermPlan } from './term-plan.js';

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
  /** How module activations are held for losses that span several modules (default `auto`). */
  activations?: ActivationPolicy;
  seed?: number;
}

export interface StepResult {
  /**
   * Unweighted value of every loss term, by term name. A term whose weight is 0 (InfoPro's λ = 0
   * at a module, for example) is still computed and reported, but gives no gradient.
   */
  losses: Record<string, number>;
  /** The last module's loss (its widest-span term): the E2E-comparable training loss. */
  loss: number;
  batchSize: number;
}

/** Modules `[first, end)` of one step, from `input` (what module `first` receives): one pipeline stage. */
export interface ModuleRange {
  first: number;
  end: number;
  /** Module `first`'s input; the batch inputs by default (and always for module 0). */
  input?: tf.Tensor;
}

/** `stepModules`' result: the range's losses and module `end - 1`'s detached output (caller disposes). */
export interface ModuleRangeStepResult extends StepResult {
  output: tf.Tensor | undefined;
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

/**
 * Trains a partitioned backbone with gradient-isolated local losses. It composes the rooms of
 * `training/`: the plugin host makes the loss terms and their heads, the term plan says which
 * modules each term passes through, activation memory picks how activations are held (once, here),
 * and a backward schedule runs each step's forwards and backwards into a gradient sink, which the
 * optimizer consumes. End-to-end training is the K = 1 case.
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
  /** Which modules each loss term passes through (pure data). */
  readonly plan: TermPlan;
  /**
   * How steps hold module activations, decided when the trainer is built (for `recompute` and
   * `auto` with cascades, from a two-image probe forward on the backend active then).
   */
  readonly schedule: ActivationSchedule;
  stepCount = 0;
  epoch = 0;

  private readonly host: PluginHost;
  private readonly headedTerms: HeadedTerm[][];
  private readonly moduleParameters: Map<string, tf.Variable>[];
  private readonly variableNames: Map<tf.Variable, string>;
  private readonly trainable: NamedVariable[];
  private readonly state: NamedVariable[];
  /** Per module, the variables it steps in `sequential` mode: its own and its heads' (fixed at construction). */
  private readonly variablesSteppedByModule: tf.Variable[][];

  constructor(options: TrainerOptions) {
    this.backbone = options.backbone;
    this.modules = partition(options.backbone, options.cuts ?? []);
    this.mode = options.mode ?? 'simultaneous';
    const policy = options.activations ?? 'auto';
    checkActivationPolicy(policy, this.mode);
    this.random = new SeededRandom(options.seed ?? 0);
    this.optimizer = new SgdOptimizer({ learningRate: 0.1, ...options.optimizer });
    this.host = new PluginHost(options.plugins ?? []);
    this.plugins = this.host.plugins;

    const context: SetupContext = {
      backbone: this.backbone,
      modules: this.modules,
      classes: this.backbone.classes,
      plugins: this.host.names,
      random: this.random,
    };
    this.host.setup(context);
    this.terms = this.host.terms(defaultTerms(this.modules.length), context);
    this.plan = planTerms(this.terms, this.modules.length);
    this.heads = this.host.createHeads(this.terms, context, new ClassifierHead(this.backbone));
    this.headedTerms = this.plan.endingAt.map((terms) =>
      terms.map((term) => {
        const head = this.heads.get(headKey(term.span[1], term.role))!;
        return { term, head, headVariables: head.namedParameters().map(([, v]) => v) };
      }),
    );
    this.moduleParameters = moduleParameterMaps(this.modules);
    if (this.mode === 'sequential' && this.plan.spansSeveralModules) {
      throw new ConfigError(
        "mode 'sequential' steps each module right after its own loss, so it cannot take losses that span several modules (MLM's cascade); use mode 'simultaneous'.",
      );
    }
    this.schedule = decideActivationSchedule(policy, this.plan, () => measureModuleActivations(this.modules, this.backbone));
    this.trainable = collectNamedVariables('parameters', this.backbone, this.heads.values(), this.host);
    this.state = collectNamedVariables('buffers', this.backbone, this.heads.values(), this.host);
    this.variableNames = new Map(this.trainable.map(([name, v]) => [v, name]));
    this.variablesSteppedByModule = this.moduleOwnedVariables();
  }

  /** Whether steps re-run module forwards (`window`, `sweep`) or hold them (`keep`). */
  get activations(): 'keep' | 'recompute' {
    return this.schedule === 'keep' ? 'keep' : 'recompute';
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

  /** Forward and backward over every loss term into `sink`; the unweighted losses read back. */
  private backwardPass(
    batch: Batch,
    sink: GradientSink,
    onModuleDone?: (moduleIndex: number) => void,
    range?: ModuleRange,
  ): { losses: Record<string, number>; loss: number; output?: tf.Tensor } {
    checkBatch(batch, this.backbone);
    const pass: BackwardPass = {
      modules: this.modules,
      plan: this.plan,
      headedTerms: this.headedTerms,
      moduleParameters: this.moduleParameters,
      batch,
      context: TRAIN,
      sink,
      losses: [],
      onModuleDone,
      range: range && { first: range.first, end: range.end, input: range.input },
    };
    try {
      runBackward(this.schedule, pass);
    } catch (error) {
      for (const [, t] of pass.losses) t.dispose();
      pass.output?.dispose();
      throw error;
    }
    const losses: Record<string, number> = {};
    for (const [name, t] of pass.losses) {
      losses[name] = t.dataSync()[0]!;
      t.dispose();
    }
    const loss = this.plan.finalTerm === undefined ? undefined : losses[this.plan.finalTerm];
    return { losses, loss: loss ?? NaN, output: pass.output };
  }

  /** Accumulated gradients of every local loss, named, before weight decay; no step is taken. */
  computeGradients(batch: Batch, options: { runAfterBackward?: boolean } = {}): GradientResult {
    const sink = new GradientSink();
    const { losses, loss } = this.backwardPass(batch, sink);
    if (options.runAfterBackward) this.host.afterBackward(this.stepContext());
    const gradients = new Map<string, tf.Tensor>();
    for (const [v, g] of sink.gradients) gradients.set(this.variableNames.get(v) ?? v.name, g);
    return { gradients, losses, loss };
  }

  /**
   * The plugins' `afterBackward` hooks for the current step (LAM's EMA twins). `step` runs them
   * itself; a pipeline stage that computes its gradients on its own calls this between its
   * backward and its update.
   */
  runAfterBackward(): void {
    this.host.afterBackward(this.stepContext());
  }

  private stepContext(): StepContext {
    return { step: this.stepCount, epoch: this.epoch, backbone: this.backbone, modules: this.modules, heads: this.heads };
  }

  /**
   * One training step on a batch: every local loss, the plugins' `afterBackward`, then SGD (in
   * `sequential` mode each module and its heads first step as soon as their gradients are final).
   */
  step(batch: Batch): StepResult {
    const { output, ...result } = this.stepModules(batch);
    output?.dispose();
    return result;
  }

  /**
   * `step` over modules `[range.first, range.end)` only (every module by default): the same
   * forwards, backwards and updates for those modules, bit for bit, so a pipeline stage that owns
   * them matches this trainer. Every loss term through the range must lie inside it. With a range,
   * the result carries module `end - 1`'s detached output (the caller disposes it).
   */
  stepModules(batch: Batch, range?: ModuleRange): ModuleRangeStepResult {
    if (range) checkModuleRange(this.plan, this.terms, range.first, range.end);
    const sink = new GradientSink();
    let result: { losses: Record<string, number>; loss: number; output?: tf.Tensor };
    try {
      if (this.mode === 'sequential') {
        const owned = this.variablesSteppedByModule;
        result = this.backwardPass(batch, sink, (m) => {
          const part = sink.take(owned[m]!);
          this.optimizer.step(part);
          for (const g of part.values()) g.dispose();
        }, range);
      } else {
        result = this.backwardPass(batch, sink, undefined, range);
      }
      try {
        this.host.afterBackward(this.stepContext());
        this.optimizer.step(sink.gradients);
      } catch (error) {
        result.output?.dispose();
        throw error;
      }
    } finally {
      sink.dispose();
    }
    this.stepCount += 1;
    return { losses: result.losses, loss: result.loss, output: result.output, batchSize: batch.inputs.shape[0] };
  }

  /** Variables each module steps in sequential mode: its own and those of heads at its output. */
  private moduleOwnedVariables(): tf.Variable[][] {
    const claimed = new Set<tf.Variable>();
    return this.modules.map((m, i) => {
      const vars = [...m.parameters()];
      for (const headed of this.headedTerms[i]!) vars.push(...headed.headVariables);
      return vars.filter((v) => (claimed.has(v) ? false : (claimed.add(v), true)));
    });
  }

  /**
   * Top-1 error and mean cross-entropy of the backbone's classifier in eval mode. Takes ownership
   * of the batches: each batch's tensors are disposed once it is evaluated (or rejected), so
   * `evaluate(loader.batches(...))` holds one batch at a time. Pass clones to keep using them.
   */
  async evaluate(batches: Iterable<Batch> | AsyncIterable<Batch>): Promise<EvaluationResult> {
    let errors = 0;
    let count = 0;
    let lossSum = 0;
    for await (const batch of batches as AsyncIterable<Batch>) {
      try {
        checkBatch(batch, this.backbone);
        const n = batch.inputs.shape[0];
        const { wrong, loss } = tf.tidy(() => {
          const logits = this.backbone.apply(batch.inputs, EVAL);
          return { wrong: countErrors(logits, batch.labels), loss: crossEntropy(logits, batch.labels).dataSync()[0]! };
        });
        errors += wrong;
        lossSum += loss * n;
        count += n;
      } finally {
        batch.inputs.dispose();
        batch.labels.dispose();
      }
    }
    if (count === 0) throw new ConfigError('evaluate() received no batches.');
    return { error: errors / count, loss: lossSum / count, count };
  }

  /** Plugins in reverse order, then every head once, then the optimizer's state. */
  dispose(): void {
    this.host.dispose(this.heads.values());
    this.optimizer.dispose();
  }
}
