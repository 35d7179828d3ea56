import { FusedActivation } from '../native.js';

/**
 * How a fused convolution or matmul applies its activation. oneDNN's ReLU and clip post-ops
 * compute max(x, 0), which is 0 for NaN where PyTorch's ReLU returns NaN, so those two run after
 * the primitive as the NaN-keeping clamp (in place, one pass over the output); the others stay
 * post-ops (their NaN propagation is tested in nan-propagation.test.ts).
 */
export interface FusedActivationPlan {
  postOperation: FusedActivation;
  /** [low, high] of a clamp applied after the primitive. */
  clamp?: readonly [number, number];
}

const plans: Record<string, FusedActivationPlan> = {
  linear: { postOperation: FusedActivation.None },
  relu: { postOperation: FusedActivation.None, clamp: [0, Number.POSITIVE_INFINITY] },
  relu6: { postOperation: FusedActivation.None, clamp: [0, 6] },
  elu: { postOperation: FusedActivation.Elu },
  leakyrelu: { postOperation: FusedActivation.LeakyRelu },
  sigmoid: { postOperation: FusedActivation.Sigmoid },
};

/** The plan for a tfjs fused activation name, or undefined for one this backend leaves to the cpu kernel. */
export function fusedActivationPlan(name: string | undefined): FusedActivationPlan | undefined {
  return plans[name ?? 'linear'];
}
