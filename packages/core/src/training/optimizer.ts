import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';

export interface SgdOptions {
  learningRate: number;
  momentum?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (PyTorch `weight_decay`). */
  weightDecay?: number;
  dampening?: number;
}

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

  constructor(options: SgdOptions) {
    this.learningRate = options.learningRate;
    this.momentum = options.momentum ?? 0.9;
    this.nesterov = options.nesterov ?? true;
    this.weightDecay = options.weightDecay ?? 1e-4;
    this.dampening = options.dampening ?? 0;
    if (!(this.learningRate >= 0)) throw new ConfigError(`learningRate must be >= 0, got ${this.learningRate}`);
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new ConfigError(`momentum must be in [0, 1), got ${this.momentum}`);
    if (!(this.weightDecay >= 0)) throw new ConfigError(`weightDecay must be >= 0, got ${this.weightDecay}`);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new ConfigError('Nesterov momentum requires momentum > 0 and dampening 0 (as in PyTorch)');
    }
  }

  /** Apply one update to each variable that has a gradient. Gradients are not disposed. */
  step(gradients: ReadonlyMap<tf.Variable, tf.Tensor>): void {
    const lr = this.learningRate;
    for (const [variable, gradient] of gradients) {
      tf.tidy(() => {
        let d: tf.Tensor = gradient;
        if (this.weightDecay !== 0) d = tf.add(d, tf.mul(variable, this.weightDecay));
        if (this.momentum !== 0) {
          const buffer = this.buffers.get(variable);
          let next: tf.Tensor;
          if (!buffer) {
            // Made as zeros and then assigned, so that a step that is undone (a non-finite
            // verdict) leaves zeros, which the next step's update turns into its own d, as PyTorch's
            // first step would (dampening 0).
            next = d;
            const created = tf.variable(tf.zerosLike(variable), false);
            this.buffers.set(variable, created);
            created.assign(d);
          } else {
            next = tf.add(tf.mul(buffer, this.momentum), this.dampening ? tf.mul(d, 1 - this.dampening) : d);
            buffer.assign(next);
          }
          d = this.nesterov ? tf.add(d, tf.mul(next, this.momentum)) : next;
        }
        variable.assign(tf.sub(variable, tf.mul(d, lr)));
      });
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
