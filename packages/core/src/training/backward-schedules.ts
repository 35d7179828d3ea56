import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from '../layers/layer.js';
import type { ActivationSchedule } from './activation-memory.js';
import { type BoundaryCotangent, CotangentSums, type HeadedTerm, type StepEngine } from './step-engine.js';

/**
 * What a schedule asks of whoever drives it, at the boundaries of its module range:
 * - `output`: module `end - 1`'s detached output on this batch, computed before any update, for
 *   the stage after (the driver owns it);
 * - `incoming`: this batch's cotangents at module `end - 1`'s output from the stage after, for the
 *   terms that continue past `end` (the reply; the schedule owns them);
 * - `upstream`: the cotangents at module `first`'s input for the stage before, for the terms that
 *   began before `first` (the driver owns them).
 * A range that holds every term through it (the sequential trainer) asks only for `output`, and
 * only when the range ends before the last module.
 */
export type ScheduleRequest =
  | { kind: 'output'; output: tf.Tensor }
  | { kind: 'incoming' }
  | { kind: 'upstream'; cotangents: BoundaryCotangent[] };

/** One step's forwards and backwards in a schedule's order, pausing at its range's boundaries. */
export type Schedule = Generator<ScheduleRequest, void, readonly BoundaryCotangent[] | undefined>;

/** The schedule `schedule` names, over the engine's range. */
export function backwardSchedule(schedule: ActivationSchedule, engine: StepEngine): Schedule {
  return schedule === 'sweep' ? sweepSchedule(engine) : heldSchedule(engine, schedule === 'window');
}

/**
 * Drives a schedule whose range holds every term through it: nothing crosses its boundaries, so
 * it never waits. Returns module `end - 1`'s output when the range ends before the last module
 * (the caller owns it).
 */
export function runSchedule(schedule: Schedule): tf.Tensor | undefined {
  let output: tf.Tensor | undefined;
  try {
    for (let next = schedule.next(); !next.done; next = schedule.next()) {
      const request = next.value;
      if (request.kind === 'output') output = request.output;
      else {
        if (request.kind === 'upstream') for (const c of request.cotangents) c.value.dispose();
        throw new Error(`internal: a range that holds its terms asked for '${request.kind}' cotangents`);
      }
    }
    return output;
  } catch (error) {
    output?.dispose();
    throw error;
  } finally {
    schedule.return();
  }
}

/** Disposes the cotangents of a reply that a schedule did not take in. */
function disposeCotangents(cotangents: readonly BoundaryCotangent[]): void {
  for (const c of cotangents) c.value.dispose();
}

/**
 * `order[m]`: the span starts of the cotangent groups at module m's output in the order the whole
 * model's sweep first adds them: its own heads' (in the order they run), then those that come down
 * from module m + 1 (in that module's order). The sweep sums and walks every group in this order
 * whenever the heads ran, so a stage that runs some heads later gives the same bits.
 */
export function sweepGroupOrder(headedTerms: readonly (readonly Pick<HeadedTerm, 'term'>[])[]): number[][] {
  const K = headedTerms.length;
  const order: number[][] = new Array(K);
  for (let m = K - 1; m >= 0; m--) {
    const keys: number[] = [];
    for (const { term } of headedTerms[m]!) if (!keys.includes(term.span[0])) keys.push(term.span[0]);
    for (const key of order[m + 1] ?? []) if (key <= m && !keys.includes(key)) keys.push(key);
    order[m] = keys;
  }
  return order;
}

/** `sweepGroupOrder` of a trainer's headed terms, computed once: they are fixed when it is built. */
const groupOrders = new WeakMap<object, number[][]>();
function groupOrderOf(headedTerms: readonly (readonly HeadedTerm[])[]): number[][] {
  let order = groupOrders.get(headedTerms);
  if (!order) groupOrders.set(headedTerms, (order = sweepGroupOrder(headedTerms)));
  return order;
}

/**
 * The module after whose heads every term that began before the range has its cotangent at the
 * range's input, so the stage before can have them while this range still runs forward (it would
 * otherwise wait for this range's whole step: with MLM's windows across a boundary, the two
 * workers took turns). -1 when no term began before the range, or when one of them continues past
 * it (its cotangent comes back with the incoming ones, so all go up after those).
 */
export function earlyUpstreamModule(headedTerms: readonly (readonly Pick<HeadedTerm, 'term'>[])[], first: number, end: number): number {
  let until = -1;
  for (let e = first; e < headedTerms.length; e++) {
    for (const { term } of headedTerms[e]!) {
      if (term.span[0] >= first) continue;
      if (e >= end) return -1;
      until = Math.max(until, e);
    }
  }
  return until;
}

/**
 * `keep` (and `window` with `dropAndRerun`): each module's traced forward is kept until its last
 * use; a term's cotangent is walked back through its span as soon as its head has run, and every
 * cotangent that reaches a module is summed, so one parameter backward per module gives its weight
 * gradients (the backward is linear in the output gradient). With `dropAndRerun`, a module that
 * owes its remaining terms only its weight gradient is dropped (its input kept) and re-run once.
 * Across a boundary the same operations run in the same order as over the whole model: the
 * incoming cotangents (one per term, in the order the later stage ran its heads) are walked after
 * this range's own terms, and modules that wait for them only for their weight gradient are
 * dropped while the schedule waits.
 */
function* heldSchedule(engine: StepEngine, dropAndRerun: boolean): Schedule {
  const { plan, headedTerms } = engine.model;
  const { first, end } = engine;
  const K = engine.moduleCount;
  const given = engine.input;
  const activations: (Activation | undefined)[] = new Array(K);
  const cotangents = new CotangentSums<number>();
  /** Inputs of the modules that will be dropped (shared with the previous module's output). */
  const inputs: (tf.Tensor | undefined)[] = new Array(K);
  const upstream: BoundaryCotangent[] = [];
  let incoming: BoundaryCotangent[] = [];
  let input: tf.Tensor = given;

  /** Walks `dy` (owned) at module `from`'s output back to its term's first module, or out of the range. */
  const walk = (spanStart: number, from: number, dy: tf.Tensor) => {
    for (let m = from; m >= Math.max(spanStart, first); m--) {
      cotangents.add(m, dy);
      if (m > spanStart) {
        const next = engine.inputGradient(activations[m]!, dy);
        dy.dispose();
        dy = next;
      }
    }
    if (spanStart < first) upstream.push({ spanStart, value: dy });
    else dy.dispose();
  };
  const drop = (m: number) => {
    activations[m]?.dispose();
    activations[m] = undefined;
  };
  const backwardModule = (m: number) => {
    const cotangent = cotangents.take(m);
    if (cotangent) {
      const traced = activations[m] ?? engine.forward(m, inputs[m]!, engine.replay);
      try {
        engine.parameterGradients(m, traced, cotangent);
      } finally {
        if (traced !== activations[m]) traced.dispose();
        cotangent.dispose();
      }
    }
    drop(m);
    inputs[m]?.dispose();
    inputs[m] = undefined;
    engine.moduleDone(m);
  };

  const earlyUntil = earlyUpstreamModule(headedTerms, first, end);
  try {
    for (let e = first; e < end; e++) {
      // A module that from now on owes only its weight gradient waits without its activations
      // while this step's forward and heads run; it is re-run once for that gradient below.
      if (dropAndRerun) for (let m = first; m < e; m++) if (plan.parkAt[m] === e) drop(m);
      const activation = engine.forward(e, input);
      activations[e] = activation;
      if (dropAndRerun && plan.parkAt[e]! >= 0) inputs[e] = input.clone();
      if (input !== given) input.dispose();
      input = activation.output.clone();
      if (e === end - 1 && end < K) {
        const output = input;
        input = given;
        yield { kind: 'output', output };
      }
      for (const headed of headedTerms[e]!) walk(headed.term.span[0], e, engine.head(headed, activation.output));
      // Walked as their heads ran: the terms that began before the range are all at its input.
      if (e === earlyUntil) yield { kind: 'upstream', cotangents: upstream.splice(0) };
      for (let m = first; m <= e; m++) if (plan.lastUse[m] === e) backwardModule(m);
    }
    if (engine.continuesAfter) {
      if (dropAndRerun) for (let m = first; m < end; m++) if (plan.parkAt[m] === end) drop(m);
      incoming = [...((yield { kind: 'incoming' }) ?? [])];
      while (incoming.length) {
        const c = incoming.shift()!;
        walk(c.spanStart, end - 1, c.value);
      }
    }
    if (upstream.length) yield { kind: 'upstream', cotangents: upstream.splice(0) };
    for (let m = first; m < end; m++) if (plan.lastUse[m]! >= end) backwardModule(m);
  } finally {
    if (input !== given) input.dispose();
    for (const a of activations) a?.dispose();
    cotangents.dispose();
    for (const t of inputs) t?.dispose();
    disposeCotangents(upstream);
    disposeCotangents(incoming);
  }
}

/**
 * `sweep`: forward every module keeping only its output and run its heads; then, from the last
 * module to the first, re-run each module's traced forward from its saved input (batch statistics
 * as before, running statistics not advanced again; only the model's last module keeps its trace,
 * a range's last module does not) and take its backward: parameter gradients
 * from every cotangent at its output, and one input gradient per group of terms that continue
 * below it (grouped by where their span starts, which is where they stop). Across a boundary the
 * incoming cotangents join the last module's groups and the groups that began before the range
 * leave through module `first`'s input.
 */
function* sweepSchedule(engine: StepEngine): Schedule {
  const { headedTerms } = engine.model;
  const { first, end } = engine;
  const K = engine.moduleCount;
  /** inputs[m]: what module m was given (the range's input, or module m-1's output). */
  const inputs: (tf.Tensor | undefined)[] = new Array(K);
  inputs[first] = engine.input;
  /** groups[m]: cotangents at module m's output by the first module of their terms' span. */
  const groups = Array.from({ length: K }, () => new CotangentSums<number>());
  const upstream: BoundaryCotangent[] = [];
  let incoming: BoundaryCotangent[] = [];
  let last: Activation | undefined;
  const earlyUntil = earlyUpstreamModule(headedTerms, first, end);
  const order = groupOrderOf(headedTerms);
  /** Module m's groups that hold a cotangent, in `order`. */
  const groupsOf = (m: number): [number, tf.Tensor][] => {
    const held = order[m]!.flatMap((key) => (groups[m]!.get(key) ? [[key, groups[m]!.get(key)!] as [number, tf.Tensor]] : []));
    if (held.length !== groups[m]!.size) throw new Error(`internal: module ${m} holds a cotangent group outside its sweep order`);
    return held;
  };
  /** walkedBelow[m]: by span start, module m's input gradients walked ahead of the backward (see `walkUpstreamEarly`). */
  const walkedBelow = Array.from({ length: K + 1 }, () => new Map<number, tf.Tensor>());
  /** The output of module m, while the forward runs (module K - 1's is in its kept trace). */
  const outputOf = (m: number) => (m === K - 1 ? last!.output : inputs[m + 1]!);
  /** Heads of terms that began in the range, for modules up to `earlyUntil`: they run once the early cotangents have gone up. */
  const deferHeads = (m: number, headed: HeadedTerm) => m <= earlyUntil && headed.term.span[0] >= first;

  /**
   * Walks the terms that began before the range from their heads down to the range's input, once
   * their last head has run, re-running each module as the backward below will; the backward
   * then takes these input gradients instead of computing them again. Keys and sums follow the
   * backward's `order` (each group's own heads, then what comes from the module above), so every
   * cotangent, and the order they go up in, is the one the backward would give.
   */
  const walkUpstreamEarly = () => {
    for (let m = earlyUntil; m >= first; m--) {
      const keys = order[m]!.filter((key) => key < first && (groups[m]!.get(key) || walkedBelow[m + 1]!.get(key)));
      if (!keys.length) continue;
      const activation = m === K - 1 ? last! : engine.forward(m, inputs[m]!, engine.replay);
      try {
        for (const key of keys) {
          const own = groups[m]!.get(key);
          const above = walkedBelow[m + 1]!.get(key);
          const g = own && above ? tf.add(own, above) : (own ?? above)!;
          try {
            const below = engine.inputGradient(activation, g);
            if (m > first) walkedBelow[m]!.set(key, below);
            else upstream.push({ spanStart: key, value: below });
          } finally {
            if (g !== own && g !== above) g.dispose();
          }
        }
      } finally {
        if (activation !== last) activation.dispose();
      }
    }
  };
  try {
    for (let e = first; e < end; e++) {
      const activation = engine.forward(e, inputs[e]!);
      let output = activation.output;
      // The last module's traced forward is kept for the backward that starts there; a range
      // that ends before the model does re-runs it as every other module, or a stage would hold a
      // whole traced module (at full resolution for the first stage) while it runs the heads
      // and waits for the later stage's cotangents.
      if (e === K - 1) last = activation;
      else {
        // Only the output outlives the forward; the backward re-runs it.
        output = output.clone();
        activation.dispose();
        inputs[e + 1] = output;
      }
      if (e === end - 1 && end < K) yield { kind: 'output', output: output.clone() };
      for (const headed of headedTerms[e]!) if (!deferHeads(e, headed)) groups[e]!.addOwned(headed.term.span[0], engine.head(headed, output));
      if (e === earlyUntil) {
        walkUpstreamEarly();
        yield { kind: 'upstream', cotangents: upstream.splice(0) };
        // A key's heads all run in one of the two passes, in their order: every sum is as before.
        for (let m = first; m <= earlyUntil; m++) {
          for (const headed of headedTerms[m]!) if (deferHeads(m, headed)) groups[m]!.addOwned(headed.term.span[0], engine.head(headed, outputOf(m)));
        }
      }
    }
    // Module end - 1's output has served the stage after and the heads.
    if (end < K) {
      inputs[end]!.dispose();
      inputs[end] = undefined;
    }
    if (engine.continuesAfter) {
      incoming = [...((yield { kind: 'incoming' }) ?? [])];
      while (incoming.length) {
        const c = incoming.shift()!;
        groups[end - 1]!.addOwned(c.spanStart, c.value);
      }
    }
    for (let m = end - 1; m >= first; m--) {
      const atOutput = groups[m]!;
      if (atOutput.size === 0) {
        if (m > first) inputs[m]!.dispose();
        inputs[m] = undefined;
        engine.moduleDone(m);
        continue;
      }
      const activation = m === K - 1 ? last! : engine.forward(m, inputs[m]!, engine.replay);
      // Module m - 1's output has served its heads and this forward.
      if (m > first) inputs[m]!.dispose();
      inputs[m] = undefined;
      try {
        const total = tf.tidy(() => groupsOf(m).reduce((sum, [, g]) => (sum ? tf.add(sum, g) : g.clone()), undefined as tf.Tensor | undefined)!);
        try {
          engine.parameterGradients(m, activation, total);
        } finally {
          total.dispose();
        }
        for (const [spanStart, g] of groupsOf(m)) {
          if (spanStart >= m) continue;
          // Walked early: taken here (or gone up already, from module first).
          const early = spanStart < first && earlyUntil >= 0;
          if (early && m === first) continue;
          const walked = early ? walkedBelow[m]!.get(spanStart) : undefined;
          walkedBelow[m]!.delete(spanStart);
          const below = walked ?? engine.inputGradient(activation, g);
          if (m > first) groups[m - 1]!.addOwned(spanStart, below);
          else upstream.push({ spanStart, value: below });
        }
      } finally {
        activation.dispose();
        if (activation === last) last = undefined;
        atOutput.dispose();
      }
      engine.moduleDone(m);
    }
    if (upstream.length) yield { kind: 'upstream', cotangents: upstream.splice(0) };
  } finally {
    last?.dispose();
    for (let m = first + 1; m < K; m++) if (inputs[m] && !inputs[m]!.isDisposed) inputs[m]!.dispose();
    for (const g of groups) g.dispose();
    for (const walked of walkedBelow) for (const t of walked.values()) t.dispose();
    disposeCotangents(upstream);
    disposeCotangents(incoming);
  }
}

/**
 * The delayed exchange's second pass: the previous batch's cotangents (`received`, at module
 * `end - 1`'s output) walked back through this range re-run on the previous batch's input with
 * the current weights (running statistics not advanced), and one parameter backward per module,
 * into the same sink: the later stage's gradients of batch t-1 applied at step t. Terms that
 * began before the range are not taken (the pipelined trainer rejects them in this mode).
 */
export function delayedCotangentPass(engine: StepEngine, previousInput: tf.Tensor, received: readonly BoundaryCotangent[]): void {
  const { first, end } = engine;
  const activations: Activation[] = [];
  const cotangents = new CotangentSums<number>();
  const pending = [...received];
  try {
    let x = previousInput;
    for (let m = first; m < end; m++) {
      const activation = engine.forward(m, x, engine.replay);
      activations.push(activation);
      x = activation.output;
    }
    while (pending.length) {
      const { spanStart, value } = pending.shift()!;
      if (spanStart < first) throw new Error('internal: the delayed exchange takes no term from an earlier stage');
      let dy = value;
      for (let m = end - 1; m >= spanStart; m--) {
        cotangents.add(m, dy);
        if (m > spanStart) {
          const next = engine.inputGradient(activations[m - first]!, dy);
          dy.dispose();
          dy = next;
        }
      }
      dy.dispose();
    }
    for (let m = first; m < end; m++) {
      const cotangent = cotangents.take(m);
      if (!cotangent) continue;
      try {
        engine.parameterGradients(m, activations[m - first]!, cotangent);
      } finally {
        cotangent.dispose();
      }
    }
  } finally {
    for (const a of activations) a.dispose();
    cotangents.dispose();
    disposeCotangents(pending);
  }
}
