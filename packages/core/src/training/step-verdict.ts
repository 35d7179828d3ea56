import * as tf from '@tensorflow/tfjs-core';
import { totalSum } from '../ops/total-sum.js';

/**
 * Where each value of a step's packed verdict sits: the unweighted losses in the order the heads
 * ran, then one gradient sum per group of variables (a module with its heads, then the variables
 * of no module), then the sum of the range's input, then the count of bad labels. A NaN or an
 * Infinity anywhere in a group's gradients, the input or a loss makes its sum non-finite.
 */
export interface VerdictLayout {
  terms: readonly string[];
  /** The module of each gradient group; -1: variables that belong to no module (plugins' own). */
  gradientGroups: readonly number[];
}

/** The device-side tensors a step's verdict is made of, and its layout. */
export interface StepVerdict {
  /** [losses..., gradient sums..., input sum, bad label count] (float32). */
  packed: tf.Tensor1D;
  /** True when every loss, gradient and input value is finite and every label is a class index. */
  ok: tf.Scalar;
  layout: VerdictLayout;
}

/**
 * Gradient sums by group, taken as a step's gradients become final (per module in sequential
 * mode, all at once otherwise): one reduction per gradient, no read.
 */
export class GradientCheck {
  private readonly sums = new Map<number, tf.Scalar>();

  add(group: number, gradients: Iterable<tf.Tensor>): void {
    const parts = [...gradients];
    if (parts.length === 0) return;
    const previous = this.sums.get(group);
    const sum = tf.tidy(() => {
      const total = totalSum(parts);
      return (previous ? tf.add(previous, total) : total) as tf.Scalar;
    });
    previous?.dispose();
    this.sums.set(group, sum);
  }

  /** The groups in ascending module order (the variables of no module last) and their sums. */
  take(): [number[], tf.Scalar[]] {
    const groups = [...this.sums.keys()].sort((a, b) => (a < 0 ? 1 : b < 0 ? -1 : a - b));
    const sums = groups.map((g) => this.sums.get(g)!);
    this.sums.clear();
    return [groups, sums];
  }

  dispose(): void {
    for (const s of this.sums.values()) s.dispose();
    this.sums.clear();
  }
}

/**
 * Labels that are not class indices: below 0, at or above `classes`, not integers, or NaN. One
 * comparison pass on the device; its count joins the verdict.
 */
export function badLabelCount(labels: tf.Tensor, classes: number): tf.Scalar {
  return tf.tidy(() => {
    let bad = tf.logicalOr(tf.less(labels, 0), tf.greaterEqual(labels, classes));
    if (labels.dtype !== 'int32') bad = tf.logicalOr(bad, tf.notEqual(labels, tf.floor(labels)));
    return tf.sum(tf.cast(bad, 'float32'));
  });
}

/**
 * Packs a step's losses, gradient sums, input sum and bad-label count into one vector (read later
 * in one transfer) and decides on the device whether the step may keep its writes.
 */
export function stepVerdict(
  losses: readonly (readonly [string, tf.Scalar])[],
  gradients: GradientCheck,
  input: tf.Tensor,
  labels: tf.Tensor,
  classes: number,
): StepVerdict {
  const [gradientGroups, gradientSums] = gradients.take();
  try {
    return tf.tidy(() => {
      const inputSum = tf.sum(tf.cast(input, 'float32'));
      const values = [...losses.map(([, t]) => t), ...gradientSums, inputSum];
      const finite = tf.stack(values) as tf.Tensor1D;
      const bad = badLabelCount(labels, classes);
      const packed = tf.concat([finite, tf.reshape(bad, [1])]) as tf.Tensor1D;
      const ok = tf.logicalAnd(tf.all(tf.isFinite(finite)), tf.equal(bad, 0)) as tf.Scalar;
      return { packed, ok, layout: { terms: losses.map(([name]) => name), gradientGroups } };
    });
  } finally {
    for (const s of gradientSums) s.dispose();
  }
}
