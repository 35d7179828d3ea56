import {
  backend_util,
  FusedBatchNorm,
  type FusedBatchNormAttrs,
  type KernelConfig,
  Max,
  type MaxAttrs,
  Mean,
  Min,
  Prod,
  Softmax,
  type SoftmaxAttrs,
  Sum,
  type SumAttrs,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';


import { ReductionOperation } from '../native.js';
import { nativeKernel, type NativeKernelArguments } from './native-kernel.js';

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Reduces over `axisAttribute`'s axes. Sum or mean over a run of adjacent axes (per-channel
 * statistics of NHWC data, global average pooling, bias gradients) is a sum over the middle axis of
 * an [outer, reduced, inner] view, done by a dedicated parallel loop; anything else goes to
 * oneDNN's reduction primitive.
 */
function reductionKernel(operation: ReductionOperation, axisAttribute: 'axis' | 'reductionIndices') {
  return ({ inputs, backend, attrs }: NativeKernelArguments) => {
    const x = inputs.x as TensorInfo;
    const xValues = backend.floatValues(x);
    if (!xValues || xValues.length === 0 || x.shape.length === 0) return null;
    // Sum, Mean, Min and Prod name the axes `axis`, Max `reductionIndices`.
    const typed = attrs as unknown as SumAttrs & MaxAttrs;
    const axes = util.parseAxisParam(axisAttribute === 'axis' ? typed.axis : typed.reductionIndices, x.shape);
    const keepDims = typed.keepDims;
    const [outShape] = backend_util.computeOutAndReduceShapes(x.shape, axes);
    const finalShape = keepDims ? backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
    if (axes.length === 0) return null; // identity; the cpu kernel returns a copy
    const y = backend.outputBuffer(sizeOf(outShape));
    const sorted = [...axes].sort((a, b) => a - b);
    const adjacent = sorted.every((axis, index) => axis === sorted[0]! + index);
    if (adjacent && (operation === ReductionOperation.Sum || operation === ReductionOperation.Mean)) {
      const first = sorted[0]!;
      const last = sorted[sorted.length - 1]!;
      backend.addon.sumAxes(
        xValues,
        y,
        sizeOf(x.shape.slice(0, first)),
        sizeOf(x.shape.slice(first, last + 1)),
        sizeOf(x.shape.slice(last + 1)),
        operation === ReductionOperation.Mean,
      );
      return backend.floatOutput(finalShape, y);
    }
    const keptDims = x.shape.map((dim, axis) => (axes.includes(axis) ? 1 : dim));
    backend.addon.reduce(xValues, y, Int32Array.of(operation, x.shape.length, ...x.shape, ...keptDims));
    return backend.floatOutput(finalShape, y);
  };
}

const softmax = nativeKernel(Softmax, ({ inputs, backend, attrs }) => {
  const logits = inputs.logits as TensorInfo;
  const values = backend.floatValues(logits);
  if (!values || values.length === 0 || logits.shape.length === 0) return null;
  const rank = logits.shape.length;
  const { dim } = attrs as unknown as SoftmaxAttrs;
  if (dim !== -1 && dim !== rank - 1) return null;
  const columns = logits.shape[rank - 1]!;
  const y = backend.outputBuffer(values.length);
  backend.addon.softmax(values, y, values.length / columns, columns);
  return backend.floatOutput([...logits.shape], y);
});

/**
 * Batch norm with given statistics (TensorFlow.js's FusedBatchNorm, i.e. tf.batchNorm) over the
 * last axis. Statistics, scale and offset must be per-channel vectors; other broadcasts use the cpu
 * kernel. Training-mode normalisation computes its statistics with tf ops (moments) whose
 * reductions and broadcasts run natively as well.
 */
const batchNorm = nativeKernel(FusedBatchNorm, ({ inputs, backend, attrs }) => {
  const { x, mean, variance, scale, offset } = inputs as Record<string, TensorInfo | undefined>;
  if (!x || !mean || !variance || x.shape.length === 0) return null;
  const xValues = backend.floatValues(x);
  if (!xValues || xValues.length === 0) return null;
  const channels = x.shape[x.shape.length - 1]!;
  const perChannel = (tensor: TensorInfo | undefined): Float32Array | null | undefined => {
    if (!tensor) return undefined;
    const values = backend.floatValues(tensor);
    return values && values.length === channels ? values : null;
  };
  const meanValues = perChannel(mean);
  const varianceValues = perChannel(variance);
  const scaleValues = perChannel(scale);
  const offsetValues = perChannel(offset);
  if (!meanValues || !varianceValues || scaleValues === null || offsetValues === null) return null;
  // Fold the statistics into one multiply-add per element: y = x * a + b with
  // a = scale / sqrt(variance + epsilon) and b = offset - mean * a (per channel, in doubles).
  const epsilon = (attrs as unknown as FusedBatchNormAttrs).varianceEpsilon ?? 0.001;
  const multiplier = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; ++c) {
    const a = (scaleValues ? scaleValues[c]! : 1) / Math.sqrt(varianceValues[c]! + epsilon);
    multiplier[c] = a;
    shift[c] = (offsetValues ? offsetValues[c]! : 0) - meanValues[c]! * a;
  }
  const y = backend.outputBuffer(xValues.length);
  backend.addon.scaleShift(xValues, multiplier, shift, y, xValues.length / channels, channels);
  return backend.floatOutput([...x.shape], y);
});

export const reductionKernels: KernelConfig[] = [
  nativeKernel(Sum, reductionKernel(ReductionOperation.Sum, 'axis')),
  nativeKernel(Mean, reductionKernel(ReductionOperation.Mean, 'axis')),
  nativeKernel(Max, reductionKernel(ReductionOperation.Max, 'reductionIndices')),
  nativeKernel(Min, reductionKernel(ReductionOperation.Min, 'axis')),
  nativeKernel(Prod, reductionKernel(ReductionOperation.Product, 'axis')),
  softmax,
  batchNorm,
];
