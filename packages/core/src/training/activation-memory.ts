import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbone/backbone.js';
import type { LocalModule } from '../backbone/partition.js';
import { ConfigError } from '../errors.js';
import { setReluTieBreaker } from '../layers/activation.js';
import type { ForwardContext } from '../layers/layer.js';
import { heldBufferBytes } from '../meters/meters.js';
import type { TermPlan } from './term-plan.js';

/**
 * How a step holds module activations while losses that span several modules (MLM's cascades)
 * still need them. Each value names one schedule, and `keep` means one thing everywhere: nothing
 * is computed twice.
 * - `keep`: each module's traced forward stays alive until the last term through it is done, so a
 *   window of modules is alive at once.
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

/**
 * What the trainer is asked for (`TrainerOptions.activations`): a schedule by name, or a rule that
 * picks one when the trainer is built (`LocalTrainer.schedule`).
 * - `recompute`: `window` or `sweep`, whichever holds fewer activation bytes at its peak, from what
 *   each module's traced forward keeps on a two-image batch (measured once, when the trainer is built).
 * - `auto` (default): `recompute` when some term spans several modules, else `keep` (nothing could
 *   be saved then: every module's activations are used at once and freed).
 * With no term spanning several modules every policy gives `keep`: there is nothing to re-run.
 */
export type ActivationPolicy = ActivationSchedule | 'recompute' | 'auto';

export const ACTIVATION_POLICIES: readonly ActivationPolicy[] = ['keep', 'recompute', 'auto', 'window', 'sweep'];

/** Bytes each module's traced forward keeps (its output included) and bytes of its output alone. */
export interface ModuleActivationBytes {
  kept: readonly number[];
  outputs: readonly number[];
}

/** Rejects a policy that is not one, or one that `mode: 'sequential'` cannot honour. */
export function checkActivationPolicy(policy: ActivationPolicy, mode: 'simultaneous' | 'sequential'): void {
  if (!ACTIVATION_POLICIES.includes(policy)) {
    throw new ConfigError(`activations must be 'keep', 'recompute', 'auto', 'window' or 'sweep'; got ${JSON.stringify(policy)}.`);
  }
  if (policy !== 'keep' && policy !== 'auto' && mode === 'sequential') {
    throw new ConfigError(
      `mode 'sequential' trains each module from its own losses alone, so activations '${policy}' has nothing to recompute; use 'keep' or 'auto'.`,
    );
  }
}

/**
 * The schedule for `policy` and `plan`, decided once. Only `recompute` (and `auto` with terms that
 * span several modules) needs the modules' activation sizes; `measure` is called then alone.
 */
export function decideActivationSchedule(
  policy: ActivationPolicy,
  plan: TermPlan,
  measure: () => ModuleActivationBytes,
): ActivationSchedule {
  if (policy === 'keep' || !plan.spansSeveralModules) return 'keep';
  if (policy === 'window' || policy === 'sweep') return policy;
  const bytes = measure();
  return sweepPeakBytes(plan, bytes) < windowPeakBytes(plan, bytes) ? 'sweep' : 'window';
}

/**
 * Peak activation bytes of `window`: at module e's step it holds the modules still in use but the
 * dropped ones, whose inputs it keeps, and re-runs one dropped module after the heads.
 */
export function windowPeakBytes(plan: TermPlan, { kept, outputs }: ModuleActivationBytes): number {
  let peak = 0;
  for (let e = 0; e < plan.moduleCount; e++) {
    let held = 0;
    let rerun = 0;
    for (let m = 0; m <= e; m++) {
      if (plan.lastUse[m]! < e) continue;
      const parked = plan.parkAt[m]! >= 0 && plan.parkAt[m]! <= e;
      held += parked ? (m > 0 ? outputs[m - 1]! : 0) : kept[m]!;
      if (parked && plan.lastUse[m] === e) rerun = Math.max(rerun, kept[m]!);
    }
    peak = Math.max(peak, held + rerun);
  }
  return peak;
}

/**
 * Peak activation bytes of `sweep`: every earlier module's output and the cotangents its heads
 * left (one per distinct span start), plus one module's activations.
 */
export function sweepPeakBytes(plan: TermPlan, { kept, outputs }: ModuleActivationBytes): number {
  let peak = 0;
  let stored = 0;
  for (let m = 0; m < plan.moduleCount; m++) {
    const groups = new Set(plan.endingAt[m]!.map((t) => t.span[0])).size;
    peak = Math.max(peak, stored + kept[m]! + groups * outputs[m]!);
    stored += (1 + groups) * outputs[m]!;
  }
  return peak;
}

/**
 * What each module's traced forward keeps on a two-image batch of zeros, on the backend active
 * now; running statistics are not advanced and ReLU's tie breaker is off while it runs.
 */
export function measureModuleActivations(modules: readonly LocalModule[], backbone: Backbone): ModuleActivationBytes {
  const kept: number[] = [];
  const outputs: number[] = [];
  const probe: ForwardContext = { training: true, updateStatistics: false };
  const size = backbone.inputSize;
  const breaker = setReluTieBreaker(undefined);
  let input: tf.Tensor = tf.zeros([2, size, size, backbone.inputChannels]);
  try {
    for (const module of modules) {
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
  return { kept, outputs };
}
