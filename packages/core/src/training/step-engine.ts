import * as tf from '@tensorflow/tfjs-core';
import type { LocalModule } from '../backbone/partition.js';
import type { Activation, ForwardContext } from '../layers/layer.js';
import { GradientSink } from './gradient-sink.js';
import { headLossAndGradients } from './head-gradients.js';
import type { Batch, Head, LossTerm } from './plugin.js';
import { rangeBoundaries, type TermPlan } from './term-plan.js';

/** A loss term with the head that serves it (and that head's trainable variables, listed once). */
export interface HeadedTerm {
  readonly term: LossTerm;
  readonly head: Head;
  readonly headVariables: readonly tf.Variable[];
}

/** What every step of one trainer reads; fixed when the trainer is built. */
export interface StepModel {
  readonly modules: readonly LocalModule[];
  readonly plan: TermPlan;
  /** `headedTerms[e]`: `plan.endingAt[e]` with their heads, in the order their heads run. */
  readonly headedTerms: readonly (readonly HeadedTerm[])[];
  /** Per module: its parameters by the names its backward reports. */
  readonly moduleParameters: readonly ReadonlyMap<string, tf.Variable>[];
}

/** Modules `[first, end)` of one step, and what module `first` receives (the batch inputs by default). */
export interface StepRange {
  first: number;
  end: number;
  input?: tf.Tensor;
}

/**
 * A cotangent at a stage boundary: the gradient of the weighted losses of every term that starts
 * at module `spanStart` with respect to the activation at the boundary (module `end - 1`'s output
 * coming in, module `first`'s input going out). Whoever holds one owns its tensor.
 */
export interface BoundaryCotangent {
  spanStart: number;
  value: tf.Tensor;
}

/**
 * Sums of cotangents by key (a module, or a module and a span start). The first cotangent for a
 * key is cloned or taken, later ones are added to it (`previous + next`, in arrival order, which
 * is what makes two schedules with the same arrivals agree bit for bit).
 */
export class CotangentSums<Key> {
  private readonly sums = new Map<Key, tf.Tensor>();

  /** Adds `dy` (the caller keeps it). */
  add(key: Key, dy: tf.Tensor): void {
    const previous = this.sums.get(key);
    this.sums.set(key, previous ? tf.add(previous, dy) : dy.clone());
    previous?.dispose();
  }

  /** Adds `dy` and takes it over. */
  addOwned(key: Key, dy: tf.Tensor): void {
    const previous = this.sums.get(key);
    if (!previous) {
      this.sums.set(key, dy);
      return;
    }
    this.sums.set(key, tf.add(previous, dy));
    previous.dispose();
    dy.dispose();
  }

  /** The sum for `key` (still owned here), if any. */
  get(key: Key): tf.Tensor | undefined {
    return this.sums.get(key);
  }

  /** Removes and returns the sum for `key` (the caller owns it). */
  take(key: Key): tf.Tensor | undefined {
    const sum = this.sums.get(key);
    this.sums.delete(key);
    return sum;
  }

  entries(): IterableIterator<[Key, tf.Tensor]> {
    return this.sums.entries();
  }

  get size(): number {
    return this.sums.size;
  }

  dispose(): void {
    for (const t of this.sums.values()) t.dispose();
    this.sums.clear();
  }
}

/**
 * The primitives of one training step over a module range, and what the step produces: every
 * forward, head, cotangent walk and parameter backward of every schedule (sequential or a
 * pipeline stage's) is one of these calls, so a loss term means the same thing everywhere. The
 * schedules (`backward-schedules.ts`) only put them in order; the trainer owns what comes after
 * (plugins' state updates, the optimizer, the all-or-nothing commit).
 */
export class StepEngine {
  readonly sink = new GradientSink();
  /** Every term's unweighted loss, by name, in the order the heads ran. */
  readonly losses: [string, tf.Scalar][] = [];
  readonly first: number;
  readonly end: number;
  /** What module `first` receives; not owned by the engine. */
  readonly input: tf.Tensor;
  /** The context of re-run forwards: the same batch statistics, running statistics not advanced again. */
  readonly replay: ForwardContext;
  /** Whether some term through the range continues past `end` (its cotangents come back across the boundary). */
  readonly continuesAfter: boolean;
  /** Whether some term through the range began before `first` (its cotangents leave through module `first`'s input). */
  readonly startsBefore: boolean;

  constructor(
    readonly model: StepModel,
    readonly batch: Batch,
    readonly context: ForwardContext,
    range?: StepRange,
    /** Called as soon as a module's gradients (and its heads') are final. */
    readonly onModuleDone?: (moduleIndex: number) => void,
  ) {
    this.first = range?.first ?? 0;
    this.end = range?.end ?? model.modules.length;
    this.input = range?.input ?? batch.inputs;
    this.replay = { ...context, updateStatistics: false };
    ({ continuesAfter: this.continuesAfter, startsBefore: this.startsBefore } = rangeBoundaries(model.plan, this.first, this.end));
  }

  get moduleCount(): number {
    return this.model.modules.length;
  }

  /** Module `m`'s traced forward of `input`. */
  forward(m: number, input: tf.Tensor, context: ForwardContext = this.context): Activation {
    return this.model.modules[m]!.forward(input, context);
  }

  /**
   * A term's head on `features` (module `term.span[1]`'s output): its unweighted loss joins
   * `losses`, its parameter gradients the sink; returns d(weight * loss)/d(features), which the
   * caller owns.
   */
  head(headed: HeadedTerm, features: tf.Tensor): tf.Tensor {
    const { term, head, headVariables } = headed;
    const result = headLossAndGradients(head, features, this.batch, this.context, term.weight, headVariables);
    this.losses.push([term.name, result.loss]);
    for (const [v, g] of result.parameterGradients) this.sink.add(v, g);
    return result.featureGradient;
  }

  /** The cotangent at a module's input from `dy` at its output (input gradient only); the caller owns it. */
  inputGradient(activation: Activation, dy: tf.Tensor): tf.Tensor {
    return activation.backward(dy, { input: true, parameters: false }).input!;
  }

  /** Module `m`'s weight gradients for its summed cotangent `dy`, into the sink (one backward per module and step). */
  parameterGradients(m: number, activation: Activation, dy: tf.Tensor): void {
    const { parameters } = activation.backward(dy, { input: false, parameters: true });
    this.sink.addNamed(parameters, this.model.moduleParameters[m]!);
  }

  /** Module `m` is done this step: its gradients and its heads' are final. */
  moduleDone(m: number): void {
    this.onModuleDone?.(m);
  }

  /** Frees the sink and the losses (a step that failed, or a probe). */
  dispose(): void {
    this.sink.dispose();
    for (const [, t] of this.losses) t.dispose();
    this.losses.length = 0;
  }
}
