import * as tf from '@tensorflow/tfjs-core';
import { TRAIN, type Activation } from '../layers/layer.js';
import { checkBatch } from '../training/batch-checks.js';
import { GradientSink } from '../training/gradient-sink.js';
import { headLossAndGradients } from '../training/head-gradients.js';
import type { Batch } from '../training/plugin.js';
import { headKey } from '../training/plugin-host.js';
import type { LocalTrainer } from '../training/trainer.js';

/** One loss term's cotangent at a worker boundary (the output of the module before it), for one batch. */
export interface TermCotangent {
  term: string;
  shape: number[];
  data: Float32Array;
}

/** Whether modules `[first, end)` share a loss term with a module before or after them. */
export function crossesBoundaries(trainer: LocalTrainer, first: number, end: number): { before: boolean; after: boolean } {
  const through = trainer.terms.filter((t) => t.span[0] < end && t.span[1] >= first);
  return { before: through.some((t) => t.span[0] < first), after: through.some((t) => t.span[1] >= end) };
}

/**
 * One step of modules `[first, end)` whose loss terms cross the worker boundaries (MLM's cascade
 * windows), with the exact exchange: the same forwards, head gradients, cotangent walks and one
 * parameter backward per module as `LocalTrainer`'s `keep` schedule, in the same order.
 *
 * 1. Forward every module (traced, kept), run the heads of the terms ending here and walk each
 *    cotangent back through its span; a term that began before `first` leaves through module
 *    `first`'s input gradient, to send upstream.
 * 2. `exchange(output)`: the caller sends module `end - 1`'s output on and, if terms continue past
 *    `end`, resolves with their cotangents at that output (in the order the later worker ran them),
 *    computed on this batch before the later worker's step: the exact mode.
 * 3. Those are walked back the same way (leaving upstream again when they began before `first`).
 * 4. One parameter backward per module on its summed cotangent, then the optimizer step.
 *
 * With `delayed`, step 2 resolves with the cotangents of the previous batch instead (none on a
 * session's first step), and step 3 walks them through this stage's modules re-run on the previous
 * batch's input (`previousInput`) with the current weights, its parameter gradients added to this
 * step's: the later worker's cotangents of batch t-1 apply at step t, and this worker never waits
 * for a round trip. Terms that began before `first` are not supported then (a term over three
 * workers), which the pipelined trainer rejects.
 *
 * With `beforeUpdate` (plugins with `afterBackward`, LAM), it is awaited after the parameter
 * backward (the caller brings later workers' weights up to this step) and the plugins' hooks run
 * before the optimizer step, as in `LocalTrainer.step`.
 *
 * Returns the losses and the cotangents for the worker before (in term order).
 */
export async function stepWithExchange(
  trainer: LocalTrainer,
  first: number,
  end: number,
  batch: Batch,
  input: tf.Tensor,
  exchange: (output: tf.Tensor) => Promise<TermCotangent[]>,
  delayed?: { previousInput: tf.Tensor | undefined },
  beforeUpdate?: () => Promise<void>,
): Promise<{ losses: Record<string, number>; loss: number; upstream: TermCotangent[] }> {
  checkBatch(batch, trainer.backbone);
  const termsByName = new Map(trainer.terms.map((t) => [t.name, t]));
  const sink = new GradientSink();
  const activations: Activation[] = [];
  const cotangents = new Map<number, tf.Tensor>();
  const losses: [string, tf.Scalar][] = [];
  const upstream: TermCotangent[] = [];
  const addCotangent = (m: number, dy: tf.Tensor) => {
    const previous = cotangents.get(m);
    cotangents.set(m, previous ? tf.add(previous, dy) : dy.clone());
    previous?.dispose();
  };
  /** Walks `dy` (owned) at module `from`'s output back to the term's first module, or out of this range. */
  const walk = (name: string, spanStart: number, from: number, dy: tf.Tensor) => {
    for (let m = from; m >= Math.max(spanStart, first); m--) {
      addCotangent(m, dy);
      if (m > spanStart) {
        const next = activations[m - first]!.backward(dy, { input: true, parameters: false }).input!;
        dy.dispose();
        dy = next;
      }
    }
    if (spanStart < first) upstream.push({ term: name, shape: dy.shape, data: new Float32Array(dy.dataSync() as Float32Array) });
    dy.dispose();
  };
  try {
    let x = input;
    for (let e = first; e < end; e++) {
      const activation = trainer.modules[e]!.forward(x, TRAIN);
      activations.push(activation);
      x = activation.output;
      for (const term of trainer.plan.endingAt[e]!) {
        const head = trainer.heads.get(headKey(e, term.role))!;
        const result = headLossAndGradients(head, activation.output, batch, TRAIN, term.weight);
        losses.push([term.name, result.loss]);
        for (const [v, g] of result.parameterGradients) sink.add(v, g);
        walk(term.name, term.span[0], e, result.featureGradient);
      }
    }
    const received = await exchange(x);
    if (!delayed) {
      for (const r of received) walk(r.term, termsByName.get(r.term)!.span[0], end - 1, tf.tensor(r.data, r.shape));
    }
    parameterBackward(trainer, first, end, activations, cotangents, sink);
    if (delayed && received.length) {
      // The previous batch's cotangents, through this step's weights on the previous batch's input.
      for (const a of activations.splice(0)) a.dispose();
      for (const c of cotangents.values()) c.dispose();
      cotangents.clear();
      let y = delayed.previousInput!;
      for (let m = first; m < end; m++) {
        const activation = trainer.modules[m]!.forward(y, { ...TRAIN, updateStatistics: false });
        activations.push(activation);
        y = activation.output;
      }
      for (const r of received) walk(r.term, termsByName.get(r.term)!.span[0], end - 1, tf.tensor(r.data, r.shape));
      parameterBackward(trainer, first, end, activations, cotangents, sink);
    }
    // Plugins' state updates (LAM's twins) read later workers' pre-step weights: wait for them.
    if (beforeUpdate) {
      await beforeUpdate();
      trainer.runAfterBackward();
    }
    trainer.optimizer.step(sink.gradients);
  } finally {
    sink.dispose();
    for (const a of activations) a.dispose();
    for (const c of cotangents.values()) c.dispose();
  }
  const values: Record<string, number> = {};
  for (const [name, t] of losses) {
    values[name] = t.dataSync()[0]!;
    t.dispose();
  }
  const finalTerm = trainer.plan.finalTerm;
  return { losses: values, loss: (finalTerm === undefined ? undefined : values[finalTerm]) ?? NaN, upstream };
}

/** One parameter backward per module on its summed cotangent, into the sink. */
function parameterBackward(
  trainer: LocalTrainer,
  first: number,
  end: number,
  activations: readonly Activation[],
  cotangents: ReadonlyMap<number, tf.Tensor>,
  sink: GradientSink,
): void {
  for (let m = first; m < end; m++) {
    const cotangent = cotangents.get(m);
    if (!cotangent) continue;
    const { parameters } = activations[m - first]!.backward(cotangent, { input: false, parameters: true });
    sink.addNamed(parameters, new Map(trainer.modules[m]!.namedParameters()));
  }
}
