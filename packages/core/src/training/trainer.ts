import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbone/backbone.js';
import { CutPoint, LocalModule, partition } from '../backbone/partition.js';
import { ConfigError, ShapeError } from '../errors.js';
import { EVAL, type NamedVariable } from '../layers/layer.js';
import { SeededRandom } from '../random.js';
import {
  ActivationPolicy,
  ActivationSchedule,
  checkActivationPolicy,
  decideActivationSchedule,
  measureModuleActivations,
} from './activation-memory.js';
import { checkBatch } from './batch-checks.js';
import { ClassifierHead } from './heads.js';
import { countErrors, crossEntropy } from './losses.js';
import { SgdOptimizer, SgdOptions } from './optimizer.js';
import type { Batch, Head, HeadKey, HeadRole, LocalLearningPlugin, LossTerm, SetupContext, StepContext } from './plugin.js';
import { collectNamedVariables, headKey, moduleParameterMaps, PluginHost } from './plugin-host.js';
import type { HeadedTerm, StepRange } from './step-engine.js';
import type { StepResult } from './step-result.js';
import { badLabelCount } from './step-verdict.js';
import { checkModuleRange, checkRangeBounds, defaultTerms, planTerms, TermPlan } from './term-plan.js';
import { resolveTrainerOptions } from './trainer-options.js';
import { TrainingStep, type StepSetup, type TrainingMode } from './training-step.js';

export type { TrainingMode } from './training-step.js';

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

/** Modules `[first, end)` of one step, from `input` (what module `first` receives): one pipeline stage. */
export type ModuleRange = StepRange;

/** `stepModules`' result: the range's step, and module `end - 1`'s detached output (the caller disposes it). */
export interface ModuleRangeStep {
  result: StepResult;
  output: tf.Tensor | undefined;
}

export interface GradientResult {
  /** Accumulated gradients by variable name, before weight decay. Caller disposes. */
  gradients: Map<string, tf.Tensor>;
  /** The losses (read them with `await result.read()`). */
  result: StepResult;
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
 * and each step (`TrainingStep`) runs a backward schedule of the step engine's primitives into a
 * gradient sink, which the optimizer consumes, all or nothing. End-to-end training is the K = 1
 * case. Nothing here reads from the device: a step's losses stay there until its result is read.
 */
export class LocalTrainer {
  readonly backbone: Backbone;
  readonly modules: readonly LocalModule[];
  readonly plugins: readonly LocalLearningPlugin[];
  readonly terms: readonly LossTerm[];
  readonly heads: ReadonlyMap<HeadKey, Head>;
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
  /** `headedTerms[e]`: the terms ending at module e with their heads, in the order they run. */
  readonly headedTerms: readonly (readonly HeadedTerm[])[];
  private readonly variableNames: Map<tf.Variable, string>;
  private readonly trainable: NamedVariable[];
  private readonly state: NamedVariable[];
  private readonly setup: StepSetup;

  constructor(options: TrainerOptions) {
    const resolved = resolveTrainerOptions(options);
    this.backbone = resolved.backbone;
    this.modules = partition(resolved.backbone, resolved.cuts ?? []);
    this.mode = resolved.mode;
    const policy = resolved.activations;
    checkActivationPolicy(policy, this.mode);
    this.random = new SeededRandom(resolved.seed);
    this.optimizer = new SgdOptimizer(resolved.optimizer, 'new LocalTrainer({ optimizer })');
    this.host = new PluginHost(resolved.plugins ?? []);
    this.plugins = this.host.plugins;
    let heads: Map<HeadKey, Head> | undefined;
    try {
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
      if (this.mode === 'sequential' && this.plan.spansSeveralModules) {
        throw new ConfigError(
          "mode 'sequential' steps each module right after its own loss, so it cannot take losses that span several modules (MLM's cascade); use mode 'simultaneous'.",
        );
      }
      heads = this.host.createHeads(this.terms, context, new ClassifierHead(this.backbone));
      this.heads = heads;
      this.headedTerms = this.plan.endingAt.map((terms) =>
        terms.map((term) => {
          const head = heads!.get(headKey(term.span[1], term.role))!;
          return { term, head, headVariables: head.namedParameters().map(([, v]) => v) };
        }),
      );
      this.schedule = decideActivationSchedule(policy, this.plan, () => measureModuleActivations(this.modules, this.backbone));
      this.trainable = collectNamedVariables('parameters', this.backbone, heads.values(), this.host);
      this.state = collectNamedVariables('buffers', this.backbone, heads.values(), this.host);
    } catch (error) {
      // Nothing the constructor made outlives it: plugins undo their setup, heads free their variables.
      this.host.dispose(heads?.values() ?? []);
      this.optimizer.dispose();
      throw error;
    }
    this.variableNames = new Map(this.trainable.map(([name, v]) => [v, name]));
    const moduleVariables = this.moduleOwnedVariables();
    const variableModule = new Map<tf.Variable, number>();
    moduleVariables.forEach((variables, m) => variables.forEach((v) => variableModule.set(v, m)));
    this.setup = {
      model: { modules: this.modules, plan: this.plan, headedTerms: this.headedTerms, moduleParameters: moduleParameterMaps(this.modules) },
      schedule: this.schedule,
      optimizer: this.optimizer,
      mode: this.mode,
      moduleVariables,
      variableModule,
      classes: this.backbone.classes,
      termModules: new Map(this.terms.map((t) => [t.name, t.span[1]])),
      finalTerm: this.plan.finalTerm,
      afterBackward: (range) => this.host.afterBackward(this.stepContext(range)),
    };
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

  /**
   * Opens one step over modules `[range.first, range.end)` (every module by default) as the step
   * engine runs it: checked, journaled, its schedule ready to drive. `step` and `stepModules` drive
   * it to its end; a pipeline stage drives it across its boundaries. The step's index is the
   * current `stepCount`, which advances when the step completes.
   */
  beginStep(batch: Batch, range?: ModuleRange, options: { update?: boolean } = {}): TrainingStep {
    checkBatch(batch, this.backbone);
    if (range) checkRangeBounds(this.plan, range.first, range.end);
    return new TrainingStep(this.setup, this.stepCount, batch, range, options.update ?? true);
  }

  /**
   * One training step on a batch: every local loss, the plugins' `afterBackward`, then SGD (in
   * `sequential` mode each module and its heads first step as soon as their gradients are final).
   * Returns at once, with the losses still on the device: `await result.read()` (or `readSteps`
   * for many steps). A step that throws changes nothing; a step whose losses, gradients or
   * inputs are not finite, or whose labels are not class indices, is undone on the device and
   * its `read()` says why.
   */
  step(batch: Batch): StepResult {
    const { result, output } = this.stepModules(batch);
    output?.dispose();
    return result;
  }

  /**
   * `step` over modules `[range.first, range.end)` only (every module by default): the same
   * forwards, backwards and updates for those modules, bit for bit, so a pipeline stage that owns
   * them matches this trainer. Every loss term through the range must lie inside it. With a range
   * that ends before the last module, `output` is module `end - 1`'s detached output (the caller
   * disposes it).
   */
  stepModules(batch: Batch, range?: ModuleRange): ModuleRangeStep {
    if (range) checkModuleRange(this.plan, this.terms, range.first, range.end);
    const step = this.beginStep(batch, range);
    let output: tf.Tensor | undefined;
    try {
      output = step.runToEnd();
      const { result } = step.complete();
      this.stepCount += 1;
      return { result, output };
    } catch (error) {
      output?.dispose();
      step.abort();
      throw error;
    }
  }

  /** Completes a step a stage drove (see `beginStep`) and advances the step count. */
  completeStep(step: TrainingStep, options: { afterBackward?: boolean } = {}): StepResult {
    const { result } = step.complete(options);
    this.stepCount += 1;
    return result;
  }

  /** Accumulated gradients of every local loss, named, before weight decay; no step is taken. */
  computeGradients(batch: Batch, options: { runAfterBackward?: boolean } = {}): GradientResult {
    const step = this.beginStep(batch, undefined, { update: false });
    try {
      step.runToEnd();
    } catch (error) {
      step.abort();
      throw error;
    }
    const { result, gradients: byVariable } = step.complete({ afterBackward: options.runAfterBackward ?? false });
    const gradients = new Map<string, tf.Tensor>();
    for (const [v, g] of byVariable!) gradients.set(this.variableNames.get(v) ?? v.name, g);
    return { gradients, result };
  }

  /**
   * The plugins' `afterBackward` hooks for the current step (LAM's EMA twins), for the heads of
   * modules `[range.first, range.end)` (every module by default). A step runs them itself; a
   * pipeline stage that waits for later workers' weights first calls this for its own modules
   * between its backward and `completeStep(step, { afterBackward: false })`.
   */
  runAfterBackward(range?: { first: number; end: number }): void {
    this.host.afterBackward(this.stepContext(range));
  }

  private stepContext(range?: { first: number; end: number }): StepContext {
    return {
      step: this.stepCount,
      epoch: this.epoch,
      backbone: this.backbone,
      modules: this.modules,
      heads: this.heads,
      range: { first: range?.first ?? 0, end: range?.end ?? this.modules.length },
    };
  }

  /** The head serving `role` at module `moduleIndex`, or undefined when no term asks for it. */
  head(moduleIndex: number, role: HeadRole): Head | undefined {
    return this.heads.get(headKey(moduleIndex, role));
  }

  /**
   * What the plugins' state updates for the heads of modules `[first, end)` read beyond those
   * modules and heads (`stateReads`), named; undefined when some plugin updates state without
   * declaring what it reads (a stage must then keep the whole model).
   */
  stateReadsOfRange(first: number, end: number): NamedVariable[] | undefined {
    if (this.plugins.some((p) => p.afterBackward && !p.stateReads)) return undefined;
    // Named as the trainer names them (checkpoints, the pipeline's records), whatever the plugin called them.
    const names = new Map([...this.trainable, ...this.state].map(([name, v]) => [v, name]));
    const reads: NamedVariable[] = [];
    for (let m = first; m < end; m++) {
      for (const [name, v] of this.host.stateReads(m)) reads.push([names.get(v) ?? name, v]);
    }
    return reads;
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
   * The variables (parameters and buffers) of modules `[first, end)` and of the heads at their
   * outputs, named: what a pipeline stage that owns those modules holds.
   */
  variablesOfRange(first: number, end: number): NamedVariable[] {
    const owned: NamedVariable[] = [];
    for (let m = first; m < end; m++) {
      owned.push(...this.modules[m]!.namedParameters(), ...this.modules[m]!.namedBuffers());
      for (const { head } of this.headedTerms[m]!) owned.push(...head.namedParameters(), ...(head.namedBuffers?.() ?? []));
    }
    const seen = new Set<tf.Variable>();
    return owned.filter(([, v]) => (seen.has(v) ? false : (seen.add(v), true)));
  }

  /**
   * Top-1 error and mean cross-entropy of the backbone's classifier in eval mode. Takes ownership
   * of the batches: each batch's tensors are disposed once it is evaluated (or rejected), so
   * `evaluate(loader.batches(...))` holds one batch at a time. Pass clones to keep using them.
   * The sums stay on the device until the last batch; one read at the end.
   */
  async evaluate(batches: Iterable<Batch> | AsyncIterable<Batch>): Promise<EvaluationResult> {
    let totals: tf.Tensor1D | undefined;
    let count = 0;
    try {
      for await (const batch of batches as AsyncIterable<Batch>) {
        try {
          checkBatch(batch, this.backbone, { training: false });
          const n = batch.inputs.shape[0];
          const next = tf.tidy(() => {
            const logits = this.backbone.apply(batch.inputs, EVAL);
            const sums = tf.stack([
              tf.cast(countErrors(logits, batch.labels), 'float32'),
              tf.mul(crossEntropy(logits, batch.labels), n),
              badLabelCount(batch.labels, this.backbone.classes),
            ]) as tf.Tensor1D;
            return (totals ? tf.add(totals, sums) : sums) as tf.Tensor1D;
          });
          totals?.dispose();
          totals = next;
          count += n;
        } finally {
          batch.inputs.dispose();
          batch.labels.dispose();
        }
      }
      if (count === 0 || !totals) throw new ConfigError('evaluate() received no batches.');
      const [errors, lossSum, badLabels] = (await totals.data()) as Float32Array;
      if (badLabels! > 0) {
        throw new ShapeError(
          `evaluate() received ${badLabels} labels that are not class indices, integers in [0, ${this.backbone.classes}). ` +
            `Map your dataset's labels to 0..${this.backbone.classes - 1}, or build the backbone with the right number of classes.`,
        );
      }
      return { error: errors! / count, loss: lossSum! / count, count };
    } finally {
      totals?.dispose();
    }
  }

  /** Plugins in reverse order, then every head once, then the optimizer's state. */
  dispose(): void {
    this.host.dispose(this.heads.values());
    this.optimizer.dispose();
  }
}
