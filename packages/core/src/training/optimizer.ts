import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import { sgdUpdate } from '../ops/sgd-update.js';
import { defineOptions, option, type OptionsOf } from './define-plugin.js';

/** SGD's options, declared once: each rule is an option's type, default and check. */
const sgdRules = {
  /** Step size. Default 0.1. */
  learningRate: option.finiteNumber({ min: 0 }, 0.1),
  /** Default 0.9. */
  momentum: option.finiteNumber({ min: 0, max: 1, exclusiveMax: true }, 0.9),
  /** Default true. */
  nesterov: option.boolean(true),
  /** L2 penalty added to the gradient (PyTorch `weight_decay`). Default 1e-4. */
  weightDecay: option.finiteNumber({ min: 0 }, 1e-4),
  /** Default 0. */
  dampening: option.finiteNumber({ min: 0, max: 1 }, 0),
};

export type SgdOptions = OptionsOf<typeof sgdRules>;

/**
 * SGD exactly as PyTorch's `torch.optim.SGD`: d = g + wd * p; buf = g-first-step else
 * momentum * buf + (1 - dampening) * d; d = d + momentum * buf (Nesterov) or buf; p -= lr * d.
 * tfjs has no weight decay in its optimizers and its momentum differs, hence this class.
 */
export class SgdOptimizer {
  learningRate: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly dampening: number;
  private readonly buffers = new Map<tf.Variable, tf.Variable>();

  /** `call` names the options in messages, as the caller wrote them (`new LocalTrainer({ optimizer })`). */
  constructor(options: SgdOptions = {}, call = 'new SgdOptimizer()') {
    const resolved = defineOptions({ call, rules: sgdRules }).resolve(options);
    this.learningRate = resolved.learningRate;
    this.momentum = resolved.momentum;
    this.nesterov = resolved.nesterov;
    this.weightDecay = resolved.weightDecay;
    this.dampening = resolved.dampening;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new ConfigError(`${call}: Nesterov momentum requires momentum > 0 and dampening 0 (as in PyTorch); set nesterov: false or momentum > 0.`);
    }
  }

  /** Apply one update to each variable that has a gradient. Gradients are not disposed. */
  step(gradients: ReadonlyMap<tf.Variable, tf.Tensor>): void {
    const attrs = {
      learningRate: this.learningRate,
      momentum: this.momentum,
      nesterov: this.nesterov,
      weightDecay: this.weightDecay,
      dampening: this.dampening,
    };
    for (const [variable, gradient] of gradients) {
      let buffer = this.buffers.get(variable);
      const firstStep = buffer === undefined;
      if (this.momentum !== 0 && buffer === undefined) {
        // Made as zeros and then assigned, so that a step that is undone (a non-finite verdict)
        // leaves zeros, which the next step's update turns into its own d, as PyTorch's first
        // step would (dampening 0).
        buffer = tf.tidy(() => tf.variable(tf.zerosLike(variable), false));
        this.buffers.set(variable, buffer);
      }
      const updated = sgdUpdate(variable, gradient, buffer, { ...attrs, firstStep });
      variable.assign(updated.value);
      updated.value.dispose();
      if (updated.momentumBuffer) {
        buffer!.assign(updated.momentumBuffer);
        updated.momentumBuffer.dispose();
      }
    }
  }

  /** Momentum buffers, for checkpoints. Variables without a buffer have not been stepped yet. */
  state(): Map<tf.Variable, tf.Variable> {
    return this.buffers;
  }

  setState(variable: tf.Variable, buffer: tf.Tensor): void {
    const existing = this.buffers.get(variable);
    if (existing) existing.assign(buffer);
    // Inside tidy, so that the clone's own handle goes and only the variable holds the copy.
    else this.buffers.set(variable, tf.tidy(() => tf.variable(buffer.clone(), false)));
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}
