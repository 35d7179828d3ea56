import * as tf from '@tensorflow/tfjs-core';
import { Activation, BackwardRequest, Layer, NamedVariable } from './layer.js';

/**
 * A ReLU mask decided from outside for some elements of one ReLU evaluation: `mask[k]` (0 or 1)
 * replaces `input > 0` at flat index `indices[k]` in the derivative.
 */
export interface ReluMaskOverride {
  indices: Int32Array;
  mask: Uint8Array;
}

/**
 * Decides ReLU derivatives at inputs that sit within rounding distance of zero. Two float32
 * implementations that sum in different orders put such an input on different sides of zero, and
 * the two masks give gradients that differ by that element's whole cotangent (through batch norm,
 * the whole channel's). Parity against another framework's float32 step needs that framework's
 * choices at those few elements; training never installs a tie breaker.
 *
 * `inspect` is called once per ReLU evaluation (layer `ReLU` and `Residual`'s closing ReLU, traced
 * or under autograd), in program order, with the ReLU's input.
 */
export interface ReluTieBreaker {
  inspect(input: tf.Tensor): ReluMaskOverride | undefined;
}

let activeTieBreaker: ReluTieBreaker | undefined;

/** Install (or with undefined, remove) the tie breaker; returns the previous one. */
export function setReluTieBreaker(breaker: ReluTieBreaker | undefined): ReluTieBreaker | undefined {
  const previous = activeTieBreaker;
  activeTieBreaker = breaker;
  return previous;
}

function overriddenMask(x: tf.Tensor, override: ReluMaskOverride): tf.Tensor {
  const step = tf.step(x);
  const mask = step.dataSync().slice() as Float32Array;
  step.dispose();
  for (let k = 0; k < override.indices.length; k++) {
    const index = override.indices[k]!;
    if (!(index >= 0 && index < mask.length)) {
      throw new RangeError(`ReLU mask override index ${index} is outside the input's ${mask.length} elements.`);
    }
    mask[index] = override.mask[k]!;
  }
  return tf.tensor(mask, x.shape, 'float32');
}

/**
 * Whether a tie breaker is installed. A ReLU fused into the kernel before it (batch norm) is never
 * shown to the tie breaker, so layers fuse only while none is installed.
 */
export function reluTieBreakerInstalled(): boolean {
  return activeTieBreaker !== undefined;
}

/** relu under tfjs autograd, with the installed tie breaker's mask where it gives one. */
export function reluWithTies(x: tf.Tensor): tf.Tensor {
  const override = activeTieBreaker?.inspect(x);
  if (!override) return tf.relu(x);
  const op = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    save([overriddenMask(input, override)]);
    return { value: tf.relu(input), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]!) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x);
}

/**
 * A traced relu: the output and what its backward multiplies by. Without a tie breaker the mask
 * is derived from the saved output on demand (no extra tensor kept).
 */
export function tracedRelu(x: tf.Tensor): { output: tf.Tensor; mask?: tf.Tensor } {
  const override = activeTieBreaker?.inspect(x);
  const output = tf.relu(x);
  return override ? { output, mask: overriddenMask(x, override) } : { output };
}

/** Rectified linear unit; its backward masks with the saved output (no input kept). */
export class ReLU extends Layer {
  namedParameters(): NamedVariable[] {
    return [];
  }

  apply(x: tf.Tensor): tf.Tensor {
    return reluWithTies(x);
  }

  override forward(x: tf.Tensor): Activation {
    const { output, mask } = tracedRelu(x);
    // Consumers may dispose `output` once they have used it; the backward keeps this reference.
    const saved = output.clone();
    return {
      output,
      backward: (dy: tf.Tensor, request: BackwardRequest) =>
        request.input ? { input: reluBackward(dy, saved, mask) } : {},
      dispose: () => {
        output.dispose();
        saved.dispose();
        mask?.dispose();
      },
    };
  }

  clone(): ReLU {
    return new ReLU();
  }
}

/** dy where the ReLU passed its input: `mask` when given, else `output > 0`. */
export function reluBackward(dy: tf.Tensor, output: tf.Tensor, mask?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(dy, mask ?? tf.step(output)));
}
