import {
  _FusedMatMul,
  type _FusedMatMulAttrs,
  BatchMatMul,
  type BatchMatMulAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

import type { OnednnBackend } from '../backend.js';
import { FusedActivation } from '../native.js';
import { fusedActivationPlan, type FusedActivationPlan } from './fused-activation.js';
import { nativeKernel } from './native-kernel.js';

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

/**
 * a @ b over the last two axes with the leading (batch) axes broadcast. oneDNN broadcasts a batch
 * of 1 against any batch; other broadcasts (e.g. [2,1] against [1,3]) are left to the cpu kernel.
 */
function runMatmul(
  backend: OnednnBackend,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  bias: TensorInfo | undefined,
  activation: FusedActivationPlan,
  alpha: number,
): TensorInfo | null {
  const aValues = backend.floatValues(a);
  const bValues = backend.floatValues(b);
  if (!aValues || !bValues || a.shape.length < 2 || b.shape.length < 2) return null;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const m = transposeA ? a.shape[aRank - 1]! : a.shape[aRank - 2]!;
  const k = transposeA ? a.shape[aRank - 2]! : a.shape[aRank - 1]!;
  const kB = transposeB ? b.shape[bRank - 1]! : b.shape[bRank - 2]!;
  const n = transposeB ? b.shape[bRank - 2]! : b.shape[bRank - 1]!;
  if (k !== kB) return null; // the cpu kernel raises the proper shape error
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = sizeOf(outerA);
  const batchB = sizeOf(outerB);
  let outer: number[];
  if (batchB === 1 && outerB.length <= outerA.length) outer = outerA;
  else if (batchA === 1 && outerA.length <= outerB.length) outer = outerB;
  else if (sameShape(outerA, outerB)) outer = outerA;
  else return null;
  let biasValues: Float32Array | null = null;
  if (bias) {
    biasValues = backend.floatValues(bias);
    if (!biasValues || biasValues.length !== n || bias.shape.length !== 1) return null;
  }
  if (m * n * k === 0) return null;
  const outShape = [...outer, m, n];
  const out = backend.outputBuffer(sizeOf(outShape));
  backend.addon.matmul(
    aValues,
    bValues,
    biasValues,
    out,
    Int32Array.of(batchA, batchB, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0),
    activation.postOperation,
    alpha,
  );
  if (activation.clamp) backend.addon.clamp(out, out, ...activation.clamp);
  return backend.floatOutput(outShape, out);
}

const batchMatMul = nativeKernel(BatchMatMul, ({ inputs, backend, attrs }) => {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  return runMatmul(backend, a, b, transposeA, transposeB, undefined, { postOperation: FusedActivation.None }, 0);
});

const fusedMatMul = nativeKernel(_FusedMatMul, ({ inputs, backend, attrs }) => {
  const { a, b, bias } = inputs as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo };
  const { transposeA, transposeB, activation: activationName, leakyreluAlpha } = attrs as unknown as _FusedMatMulAttrs;
  const activation = fusedActivationPlan(activationName);
  if (activation === undefined) return null;
  return runMatmul(backend, a, b, transposeA, transposeB, bias, activation, leakyreluAlpha ?? 0.2);
});

export const matmulKernels: KernelConfig[] = [batchMatMul, fusedMatMul];
