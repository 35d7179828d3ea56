import * as tf from '@tensorflow/tfjs-core';
import type { LocalModule } from '../backbone/partition.js';
import type { Activation, ForwardContext } from '../layers/layer.js';
import type { ActivationSchedule } from './activation-memory.js';
import type { GradientSink } from './gradient-sink.js';
import { headLossAndGradients } from './head-gradients.js';
import type { Batch, Head, LossTerm } from './plugin.js';
import type { TermPlan } from './term-plan.js';

/** A loss term with the head that serves it (and that head's trainable variables, listed once). */
export interface HeadedTerm {
  term: LossTerm;
  head: Head;
  headVariables: tf.Variable[];
}

/** What one step's backward over every loss term reads and where it writes. */
export interface BackwardPass {
  modules: readonly LocalModule[];
  plan: TermPlan;
  /** `headedTerms[e]`: `plan.endingAt[e]` with their heads. */
  headedTerms: readonly (readonly HeadedTerm[])[];
  /** Per module: its parameters by the names its backward reports. */
  moduleParameters: readonly ReadonlyMap<string, tf.Variable>[];
  batch: Batch;
  context: ForwardContext;
  sink: GradientSink;
  /** Every term's unweighted loss, by name, in the order the heads ran; the caller disposes them. */
  losses: [string, tf.Scalar][];
  /** Called as soon as a module's gradients (and its heads') are final (`keep` and `window` only). */
  onModuleDone?: (moduleIndex: number) => void;
  /**
   * Run only modules `[first, end)` (`keep` and `window` only), starting from `input`, what module
   * `first` receives (the batch inputs by default): one pipeline stage. Every term through these
   * modules must lie inside the range. Defaults: every module, from the batch.
   */
  range?: { first: number; end: number; input?: tf.Tensor };
  /** Set when `range` is given: module `end - 1`'s detached output, owned by the caller. */
  output?: tf.Tensor;
}

/** Forward and backward over every loss term of one batch, holding activations as `schedule` says. */
export function runBackward(schedule: ActivationSchedule, pass: BackwardPass): void {
  if (schedule === 'sweep' && pass.range) throw new Error("internal: the 'sweep' schedule runs every module; a module range needs 'keep' or 'window'");
  if (schedule === 'sweep') sweepBackward(pass);
  else heldBackward(pass, schedule === 'window');
}

/**
 * Runs a term's head on a module's output: its parameter gradients go to the sink, its loss to
 * `pass.losses`; returns d(weight * loss)/d(features), owned by the caller.
 */
function headCotangent(pass: BackwardPass, headed: HeadedTerm, features: tf.Tensor): tf.Tensor {
  const { term, head, headVariables } = headed;
  const result = headLossAndGradients(head, features, pass.batch, pass.context, term.weight, headVariables);
  pass.losses.push([term.name, result.loss]);
  for (const [v, g] of result.parameterGradients) pass.sink.add(v, g);
  return result.featureGradient;
}

/**
 * `keep` (and `window` with `dropAndRerun`): each module's traced forward is kept until its last
 * use; a term's cotangent is walked back through its span as soon as its head has run, and every
 * cotangent that reaches a module is summed, so one parameter backward per module gives its weight
 * gradients (the backward is linear in the output gradient). With `dropAndRerun`, a module that
 * owes its remaining terms only its weight gradient is dropped (its input kept) and re-run once.
 */
function heldBackward(pass: BackwardPass, dropAndRerun: boolean): void {
  const { modules, plan, batch, context } = pass;
  const K = modules.length;
  const first = pass.range?.first ?? 0;
  const end = pass.range?.end ?? K;
  const given = pass.range?.input ?? batch.inputs;
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
  let input: tf.Tensor = given;
  try {
    for (let e = first; e < end; e++) {
      // A module that from now on owes only its weight gradient waits without its activations
      // while this step's forward and heads run; it is re-run once for that gradient below.
      for (let m = first; m < e && dropAndRerun; m++) {
        if (plan.parkAt[m] === e) {
          activations[m]?.dispose();
          activations[m] = undefined;
        }
      }
      const activation = modules[e]!.forward(input, context);
      activations[e] = activation;
      if (dropAndRerun && plan.parkAt[e]! >= 0) inputs[e] = input.clone();
      if (input !== given) input.dispose();
      input = activation.output.clone();
      for (const headed of pass.headedTerms[e]!) {
        let dy = headCotangent(pass, headed, activation.output);
        for (let m = e; m >= headed.term.span[0]; m--) {
          addCotangent(m, dy);
          if (m > headed.term.span[0]) {
            const next = activations[m]!.backward(dy, { input: true, parameters: false }).input!;
            dy.dispose();
            dy = next;
          }
        }
        dy.dispose();
      }
      for (let m = first; m <= e; m++) {
        if (plan.lastUse[m] !== e) continue;
        const cotangent = cotangents[m];
        if (cotangent) {
          const traced = activations[m] ?? modules[m]!.forward(inputs[m]!, replay);
          let parameters: Record<string, tf.Tensor> | undefined;
          try {
            parameters = traced.backward(cotangent, { input: false, parameters: true }).parameters;
          } finally {
            if (traced !== activations[m]) traced.dispose();
          }
          cotangent.dispose();
          cotangents[m] = undefined;
          pass.sink.addNamed(parameters, pass.moduleParameters[m]!);
        }
        activations[m]?.dispose();
        activations[m] = undefined;
        inputs[m]?.dispose();
        inputs[m] = undefined;
        pass.onModuleDone?.(m);
      }
    }
    if (pass.range && input !== given) {
      pass.output = input;
      input = given;
    }
  } finally {
    if (input !== given) input.dispose();
    for (const a of activations) a?.dispose();
    for (const c of cotangents) c?.dispose();
    for (const t of inputs) t?.dispose();
  }
}

/**
 * `sweep`: forward every module keeping only its output and run its heads; then, from the last
 * module to the first, re-run each module's traced forward from its saved input (batch statistics
 * as before, running statistics not advanced again) and take its backward: parameter gradients
 * from every cotangent at its output, and one input gradient per group of terms that continue
 * below it (grouped by where their span starts, which is where they stop).
 */
function sweepBackward(pass: BackwardPass): void {
  const { modules, batch, context } = pass;
  const K = modules.length;
  const replay: ForwardContext = { ...context, updateStatistics: false };
  /** inputs[m]: what module m was given (the batch, or module m-1's output). */
  const inputs: tf.Tensor[] = [batch.inputs];
  /** groups[m]: cotangents at module m's output by the first module of their terms' span. */
  const groups: Map<number, tf.Tensor>[] = modules.map(() => new Map());
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
      const activation = modules[e]!.forward(inputs[e]!, context);
      let output = activation.output;
      if (e === K - 1) last = activation;
      else {
        // Only the output outlives the forward; the backward re-runs it.
        output = output.clone();
        activation.dispose();
        inputs.push(output);
      }
      for (const headed of pass.headedTerms[e]!) addGroup(e, headed.term.span[0], headCotangent(pass, headed, output));
    }
    for (let m = K - 1; m >= 0; m--) {
      const atOutput = groups[m]!;
      if (atOutput.size === 0) {
        if (m > 0) inputs[m]!.dispose();
        continue;
      }
      const activation = m === K - 1 ? last! : modules[m]!.forward(inputs[m]!, replay);
      // Module m - 1's output has served its heads and this forward.
      if (m > 0) inputs[m]!.dispose();
      try {
        const total = tf.tidy(() => [...atOutput.values()].reduce((sum, g) => (sum ? tf.add(sum, g) : g.clone()), undefined as tf.Tensor | undefined)!);
        const { parameters } = activation.backward(total, { input: false, parameters: true });
        total.dispose();
        pass.sink.addNamed(parameters, pass.moduleParameters[m]!);
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
