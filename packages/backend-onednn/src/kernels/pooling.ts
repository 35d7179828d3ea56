import {
  AvgPool,
  type AvgPoolAttrs,
  AvgPoolGrad,
  backend_util,
  type KernelConfig,
  MaxPool,
  type MaxPoolAttrs,
  MaxPoolGrad,
  type TensorInfo,
} from '@tensorflow/tfjs-core';


import { PoolingKind } from '../native.js';
import { consistentAfterPadding, nativeKernel, type NativeKernelArguments } from './native-kernel.js';

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

// The four pooling kernels (and their gradients, AvgPoolGradAttrs and MaxPoolGradAttrs) share
// these attributes.
function poolInfo(shape: number[], attrs: NativeKernelArguments['attrs']): backend_util.Conv2DInfo {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as AvgPoolAttrs & MaxPoolAttrs;
  return backend_util.computePool2DInfo(shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
}

/** Packs an NHWC pooling geometry, or null when the padding does not fit oneDNN's formula. */
export function poolingGeometry(info: backend_util.Conv2DInfo): Int32Array | null {
  const bottom = consistentAfterPadding(
    info.inHeight,
    info.outHeight,
    info.strideHeight,
    info.effectiveFilterHeight,
    info.padInfo.top,
    info.padInfo.bottom,
  );
  const right = consistentAfterPadding(
    info.inWidth,
    info.outWidth,
    info.strideWidth,
    info.effectiveFilterWidth,
    info.padInfo.left,
    info.padInfo.right,
  );
  if (bottom === null || right === null || info.padInfo.top < 0 || info.padInfo.left < 0) return null;
  // Windows that lie wholly in the padding have no defined value in oneDNN.
  if (
    info.padInfo.top >= info.effectiveFilterHeight ||
    info.padInfo.left >= info.effectiveFilterWidth ||
    bottom >= info.effectiveFilterHeight ||
    right >= info.effectiveFilterWidth
  ) {
    return null;
  }
  return Int32Array.of(
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
    bottom,
    right,
  );
}

function poolForward(kind: PoolingKind) {
  return ({ inputs, backend, attrs }: NativeKernelArguments) => {
    const x = inputs.x as TensorInfo;
    const xValues = backend.floatValues(x);
    if (!xValues || x.shape.length !== 4 || xValues.length === 0) return null;
    const info = poolInfo(x.shape, attrs);
    const geometry = poolingGeometry(info);
    if (!geometry) return null;
    const y = backend.outputBuffer(sizeOf(info.outShape));
    backend.addon.poolForward(xValues, y, geometry, kind);
    return backend.floatOutput(info.outShape, y);
  };
}

/**
 * Gradients of the pooling forward above. For average pooling with 'same' padding this is the true
 * gradient of TensorFlow.js's AvgPool (which divides edge windows by their in-bounds count); the cpu
 * backend's AvgPoolGrad divides every window by the full filter area instead.
 */
function poolBackward(kind: PoolingKind) {
  return ({ inputs, backend, attrs }: NativeKernelArguments) => {
    const dy = inputs.dy as TensorInfo;
    const x = inputs.input as TensorInfo;
    const dyValues = backend.floatValues(dy);
    const xValues = backend.floatValues(x);
    if (!dyValues || !xValues || x.shape.length !== 4 || xValues.length === 0) return null;
    const info = poolInfo(x.shape, attrs);
    const geometry = poolingGeometry(info);
    if (!geometry) return null;
    const dx = backend.outputBuffer(xValues.length);
    backend.addon.poolBackward(dyValues, xValues, dx, geometry, kind);
    return backend.floatOutput([...x.shape], dx);
  };
}

export const poolingKernels: KernelConfig[] = [
  nativeKernel(MaxPool, poolForward(PoolingKind.Max)),
  nativeKernel(AvgPool, poolForward(PoolingKind.Average)),
  nativeKernel(MaxPoolGrad, poolBackward(PoolingKind.Max)),
  nativeKernel(AvgPoolGrad, poolBackward(PoolingKind.Average)),
];
