import {
  type KernelConfig,
  PadV2,
  type PadV2Attrs,
  Slice,
  type SliceAttrs,
  slice_util,
  StridedSlice,
  type StridedSliceAttrs,
  type TensorInfo,
  Transpose,
  type TransposeAttrs,
} from '@tensorflow/tfjs-core';


import { nativeKernel } from './native-kernel.js';

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

const transpose = nativeKernel(Transpose, ({ inputs, backend, attrs }) => {
  const x = inputs.x as TensorInfo;
  const values = backend.floatValues(x);
  const { perm: permutation } = attrs as unknown as TransposeAttrs;
  if (!values || values.length === 0 || x.shape.length === 0) return null;
  const outShape = permutation.map((axis) => x.shape[axis]!);
  const y = backend.outputBuffer(values.length);
  backend.addon.transpose(values, y, Int32Array.of(x.shape.length, ...x.shape, ...permutation));
  return backend.floatOutput(outShape, y);
});

const pad = nativeKernel(PadV2, ({ inputs, backend, attrs }) => {
  const x = inputs.x as TensorInfo;
  const values = backend.floatValues(x);
  const { paddings, constantValue } = attrs as unknown as PadV2Attrs;
  if (!values || values.length === 0 || x.shape.length === 0) return null;
  if (paddings.some(([before, after]) => before < 0 || after < 0)) return null;
  const outShape = x.shape.map((dim, axis) => paddings[axis]![0] + dim + paddings[axis]![1]);
  const y = backend.outputBuffer(sizeOf(outShape));
  backend.addon.pad(
    values,
    y,
    Int32Array.of(x.shape.length, ...x.shape, ...paddings.map(([before]) => before), ...outShape),
    constantValue ?? 0,
  );
  return backend.floatOutput(outShape, y);
});

/**
 * A slice that is one contiguous run of memory stays with the cpu kernel (a zero-copy subarray);
 * any other (e.g. the channel slice that pad's gradient takes) is a strided oneDNN reorder.
 */
const slice = nativeKernel(Slice, ({ inputs, backend, attrs }) => {
  const x = inputs.x as TensorInfo;
  const values = backend.floatValues(x);
  if (!values || x.shape.length === 0) return null;
  const { begin: beginAttribute, size: sizeAttribute } = attrs as unknown as SliceAttrs;
  const [begin, size] = slice_util.parseSliceParams(x, beginAttribute, sizeAttribute);
  slice_util.assertParamsValid(x, begin, size);
  if (slice_util.isSliceContinous(x.shape, begin, size) || sizeOf(size) === 0) return null;
  const rank = x.shape.length;
  const y = backend.outputBuffer(sizeOf(size));
  backend.addon.stridedSlice(values, y, Int32Array.of(rank, ...x.shape, ...begin, ...new Array<number>(rank).fill(1), ...size));
  return backend.floatOutput(size, y);
});

/** Strided slices with positive strides (e.g. x[:, ::2, ::2, :]); others use the cpu kernel. */
const stridedSlice = nativeKernel(StridedSlice, ({ inputs, backend, attrs }) => {
  const x = inputs.x as TensorInfo;
  const values = backend.floatValues(x);
  if (!values || x.shape.length === 0) return null;
  const { begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkAxisMask } = attrs as unknown as StridedSliceAttrs;
  const info = slice_util.sliceInfo(x.shape, begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkAxisMask);
  // Identity and contiguous slices are reshapes/subarrays in the cpu kernel: nothing to gain.
  if (info.isIdentity || info.sliceDim0 || info.isSimpleSlice) return null;
  const rank = x.shape.length;
  if (info.begin.length !== rank || info.end.length !== rank || info.strides.length !== rank) return null;
  if (info.strides.some((stride) => stride < 1)) return null;
  // Per-axis extents before shrunk axes are dropped and new axes added; the output is a reshape.
  const extents = slice_util.computeOutShape(info.begin, info.end, info.strides);
  const size = sizeOf(extents);
  if (size === 0 || size !== sizeOf(info.finalShape)) return null;
  const y = backend.outputBuffer(size);
  backend.addon.stridedSlice(values, y, Int32Array.of(rank, ...x.shape, ...info.begin, ...info.strides, ...extents));
  return backend.floatOutput(info.finalShape, y);
});

export const layoutKernels: KernelConfig[] = [transpose, pad, slice, stridedSlice];
