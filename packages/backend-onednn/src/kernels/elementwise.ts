import {
  Abs,
  Add,
  AddN,
  broadcast_util,
  Elu,
  Exp,
  type KernelConfig,
  LeakyRelu,
  type LeakyReluAttrs,
  Log,
  Maximum,
  Minimum,
  Multiply,
  Neg,
  RealDiv,
  Reciprocal,
  Relu,
  Relu6,
  Rsqrt,
  Sigmoid,
  Sqrt,
  Square,
  SquaredDifference,
  Step,
  type StepAttrs,
  Sub,
  Tanh,
  type TensorInfo,
  Tile,
  type TileAttrs,
} from '@tensorflow/tfjs-core';


import { OnednnKernelError } from '../errors.js';
import { BinaryOperation, BinaryPostOperation, EltwiseOperation } from '../native.js';
import { nativeKernel, type NativeKernelArguments } from './native-kernel.js';

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

/** Left-pads a shape with 1s to `rank` (rank 0 becomes [1], which oneDNN needs). */
function padShape(shape: number[], rank: number): number[] {
  return [...new Array<number>(Math.max(rank - shape.length, 0)).fill(1), ...shape];
}

/**
 * Merges neighbouring axes that broadcast the same way (both full, or the second operand 1) and
 * drops axes of size 1, so [N,H,W,C] x [1,1,1,C] becomes [N*H*W, C] x [1, C] and equal shapes
 * become one axis. oneDNN picks its vectorised kernels for these canonical forms; the 4-D
 * originals can land on slower generic paths.
 */
export function collapseBroadcast(full: number[], second: number[]): [number[], number[]] {
  const collapsedFull: number[] = [];
  const collapsedSecond: number[] = [];
  let previous: 'same' | 'broadcast' | undefined;
  for (let axis = 0; axis < full.length; ++axis) {
    const size = full[axis]!;
    if (size === 1) continue;
    const kind = second[axis] === size ? 'same' : 'broadcast';
    if (kind === previous) {
      collapsedFull[collapsedFull.length - 1]! *= size;
      if (kind === 'same') collapsedSecond[collapsedSecond.length - 1]! *= size;
    } else {
      collapsedFull.push(size);
      collapsedSecond.push(kind === 'same' ? size : 1);
    }
    previous = kind;
  }
  return collapsedFull.length === 0 ? [[1], [1]] : [collapsedFull, collapsedSecond];
}

const commutative = new Set<BinaryOperation>([
  BinaryOperation.Add,
  BinaryOperation.Mul,
  BinaryOperation.Max,
  BinaryOperation.Min,
  BinaryOperation.SquaredDifference,
]);

/**
 * oneDNN's binary primitive broadcasts only its second operand. When the first operand is the one
 * that broadcasts, commutative operations swap; sub and div swap and then negate / invert the
 * result (b - a = -(a - b), a / b = 1 / (b / a)). When both broadcast (e.g. [n,1] with [1,m]) the
 * cpu kernel takes over.
 */
function binaryKernel(operation: BinaryOperation) {
  return ({ inputs, backend }: NativeKernelArguments) => {
    const a = inputs.a as TensorInfo;
    const b = inputs.b as TensorInfo;
    const aValues = backend.floatValues(a);
    const bValues = backend.floatValues(b);
    if (!aValues || !bValues) return null;
    const outShape = broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const size = sizeOf(outShape);
    if (size === 0) return null;
    const rank = Math.max(outShape.length, 1);
    const full = padShape(outShape, rank);
    const aDims = padShape(a.shape, rank);
    const bDims = padShape(b.shape, rank);
    let first = aValues;
    let second = bValues;
    let secondDims = bDims;
    let post: BinaryPostOperation = BinaryPostOperation.None;
    if (!sameShape(aDims, full)) {
      if (!sameShape(bDims, full)) return null;
      first = bValues;
      second = aValues;
      secondDims = aDims;
      if (operation === BinaryOperation.Sub) post = BinaryPostOperation.Negate;
      else if (operation === BinaryOperation.Div) post = BinaryPostOperation.Reciprocal;
      else if (!commutative.has(operation)) return null;
    }
    const [dims, secondCollapsed] = collapseBroadcast(full, secondDims);
    const out = backend.outputBuffer(size);
    backend.addon.binary(first, second, out, Int32Array.of(operation, post, dims.length, ...dims, ...secondCollapsed));
    return backend.floatOutput(outShape, out);
  };
}

/** A unary kernel on float32 data; `parameters` reads alpha and beta from the kernel's attributes. */
function unaryKernel(
  operation: EltwiseOperation,
  parameters: (attrs: NativeKernelArguments['attrs']) => [number, number] = () => [0, 0],
) {
  return ({ inputs, backend, attrs }: NativeKernelArguments) => {
    const x = inputs.x as TensorInfo;
    const xValues = backend.floatValues(x);
    if (!xValues) return null;
    const [alpha, beta] = parameters(attrs);
    const y = backend.outputBuffer(xValues.length);
    backend.addon.eltwise(xValues, y, operation, alpha, beta);
    return backend.floatOutput([...x.shape], y);
  };
}

/**
 * ReLU and ReLU6 as one NaN-keeping clamp (native clampKeepingNaN): oneDNN's eltwise ReLU and clip
 * compute max(x, 0), which is 0 for NaN where PyTorch's ReLU returns NaN, and a NaN that a ReLU
 * turns into 0 can no longer reach the loss.
 */
function clampKernel(low: number, high: number) {
  return ({ inputs, backend }: NativeKernelArguments) => {
    const x = inputs.x as TensorInfo;
    const xValues = backend.floatValues(x);
    if (!xValues) return null;
    const y = backend.outputBuffer(xValues.length);
    backend.addon.clamp(xValues, y, low, high);
    return backend.floatOutput([...x.shape], y);
  };
}

const step = nativeKernel(Step, ({ inputs, backend, attrs }) => {
  const x = inputs.x as TensorInfo;
  const xValues = backend.floatValues(x);
  if (!xValues) return null;
  const y = backend.outputBuffer(xValues.length);
  const { alpha } = attrs as unknown as StepAttrs;
  backend.addon.step(xValues, y, alpha ?? 0);
  return backend.floatOutput([...x.shape], y);
});

const addN = nativeKernel(AddN, ({ inputs, backend }) => {
  const tensors = Object.values(inputs).filter((tensor): tensor is TensorInfo => tensor !== undefined);
  if (tensors.length === 0) return null;
  const shape = tensors[0]!.shape;
  const values: Float32Array[] = [];
  for (const tensor of tensors) {
    const tensorValues = backend.floatValues(tensor);
    if (!tensorValues || !sameShape(tensor.shape, shape)) return null;
    values.push(tensorValues);
  }
  const y = backend.outputBuffer(sizeOf(shape));
  if (y.length === 0) return null;
  backend.addon.addN(values, y);
  return backend.floatOutput([...shape], y);
});

/**
 * Tile as a broadcast: the output viewed as [r0, d0, r1, d1, ...] is the input viewed as
 * [1, d0, 1, d1, ...] added onto the zero-filled output in place. FusedBatchNorm's gradient tiles
 * per-channel vectors to full activations, so this is on every training step's path.
 */
const tile = nativeKernel(Tile, ({ inputs, backend, attrs }) => {
  const x = inputs.x as TensorInfo;
  const values = backend.floatValues(x);
  const { reps: repetitions } = attrs as unknown as TileAttrs;
  if (!values || values.length === 0 || x.shape.length === 0 || x.shape.length > 6) return null;
  const outShape = x.shape.map((dim, axis) => dim * repetitions[axis]!);
  const full = x.shape.flatMap((dim, axis) => [repetitions[axis]!, dim]);
  const second = x.shape.flatMap((dim) => [1, dim]);
  const [dims, secondCollapsed] = collapseBroadcast(full, second);
  // Zero-filled on purpose: the input is added onto it.
  const out = backend.zeroedOutputBuffer(sizeOf(outShape));
  if (out.length === 0) return null;
  backend.addon.binary(out, values, out, Int32Array.of(BinaryOperation.Add, BinaryPostOperation.None, dims.length, ...dims, ...secondCollapsed));
  return backend.floatOutput(outShape, out);
});

/**
 * dy * (x > 0) in one oneDNN pass (eltwise backward). tfjs differentiates Relu as
 * mul(dy, step(x)): two passes and an intermediate tensor. register() points the Relu gradient
 * here when the active backend has this kernel.
 */
export const ReluGrad = 'MlaanReluGrad';

const reluGrad = nativeKernel(ReluGrad, ({ inputs, backend }) => {
  const dy = inputs.dy as TensorInfo;
  const x = inputs.x as TensorInfo;
  const dyValues = backend.floatValues(dy);
  const xValues = backend.floatValues(x);
  if (!dyValues || !xValues || dyValues.length !== xValues.length) {
    throw new OnednnKernelError(ReluGrad, `needs float32 dy and x of one shape; got [${dy.shape}] (${dy.dtype}) and [${x.shape}] (${x.dtype})`);
  }
  const dx = backend.outputBuffer(xValues.length);
  backend.addon.eltwiseBackward(dyValues, xValues, dx, EltwiseOperation.Relu, 0, 0);
  return backend.floatOutput([...x.shape], dx);
});

export const elementwiseKernels: KernelConfig[] = [
  nativeKernel(Add, binaryKernel(BinaryOperation.Add)),
  nativeKernel(Sub, binaryKernel(BinaryOperation.Sub)),
  nativeKernel(Multiply, binaryKernel(BinaryOperation.Mul)),
  nativeKernel(RealDiv, binaryKernel(BinaryOperation.Div)),
  nativeKernel(Maximum, binaryKernel(BinaryOperation.Max)),
  nativeKernel(Minimum, binaryKernel(BinaryOperation.Min)),
  nativeKernel(SquaredDifference, binaryKernel(BinaryOperation.SquaredDifference)),
  nativeKernel(Relu, clampKernel(0, Number.POSITIVE_INFINITY)),
  nativeKernel(Relu6, clampKernel(0, 6)),
  nativeKernel(LeakyRelu, unaryKernel(EltwiseOperation.Relu, (attrs) => [(attrs as unknown as LeakyReluAttrs).alpha ?? 0.2, 0])),
  nativeKernel(Elu, unaryKernel(EltwiseOperation.Elu, () => [1, 0])),
  nativeKernel(Sigmoid, unaryKernel(EltwiseOperation.Sigmoid)),
  nativeKernel(Tanh, unaryKernel(EltwiseOperation.Tanh)),
  nativeKernel(Exp, unaryKernel(EltwiseOperation.Exp)),
  nativeKernel(Log, unaryKernel(EltwiseOperation.Log)),
  nativeKernel(Sqrt, unaryKernel(EltwiseOperation.Sqrt)),
  nativeKernel(Rsqrt, unaryKernel(EltwiseOperation.Pow, () => [1, -0.5])),
  nativeKernel(Reciprocal, unaryKernel(EltwiseOperation.Pow, () => [1, -1])),
  nativeKernel(Square, unaryKernel(EltwiseOperation.Square)),
  nativeKernel(Abs, unaryKernel(EltwiseOperation.Abs)),
  nativeKernel(Neg, unaryKernel(EltwiseOperation.Linear, () => [-1, 0])),
  step,
  addN,
  tile,
];

/** Kernels of this backend with no cpu counterpart. */
export const extraElementwiseKernels: KernelConfig[] = [reluGrad];
