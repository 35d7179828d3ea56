import {
  type KernelConfig,
  PadV2,
  Slice,
  slice_util,
  StridedSlice,
  type TensorInfo,
  Transpose,
} from '@tensorflow/tfjs-core';


import { nativeKernel } from './native-kernel.js';

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

const transpose = nativeKernel(Transpose, ({ inputs, backend, attrs }) => {
  const x = inputs.x as TensorInfo;
  const values = backend.floatValues(x);
  const permutation = attrs.perm as number[];
  if (!values || values.length === 0 || x.shape.length === 0) return null;
  const outShape = permutation.map((axis) => x.shape[axis]!);
  const y = backend.outputBuffer(values.length);
  backend.addon.transpose(values, y, Int32Array.of(x.shape.length, ...x.shape, ...permutation));
  return backend.floatOutput(outShape, y);
});

const pad = nativeKernel(PadV2, ({ inputs, backend, attrs }) => {
  const x = inputs.x as TensorInfo;
  const values = backend.floatValues(x);
  const paddings = attrs.paddings as Array<[number, number]>;
  if (!values || values.length === 0 || x.shape.length === 0) return null;
  if (paddings.some(([before, after]) => before < 0 || after < 0)) return null;
  const outShape = x.shape.map((dim, axis) => paddings[axis]![0] + dim + paddings[axis]![1]);
  const y = backend.outputBuffer(sizeOf(outShape));
  backend.addon.pad(
    values,
    y,
    Int32Array.of(x.shape.length, ...x.shape, ...paddings.map(([before]) => before), ...outShape),
    (attrs.constantValue as number | undefined) ?? 0,
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
  const [begin, size] = slice_util.parseSliceParams(x, attrs.begin as number | number[], attrs.size as number | number[]);
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
  const info = slice_util.sliceInfo(
    x.shape,
    attrs.begin as number[],
    attrs.end as number[],
    attrs.strides as number[],
    attrs.beginMask as number,
    attrs.endMask as number,
    attrs.ellipsisMask as number,
    attrs.newAxisMask as number,
    attrs.shrinkAxisMask as number,
  );
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
