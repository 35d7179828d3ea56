import { backend_util } from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';

/** The padding attribute of tfjs convolution kernels. */
export type ConvPadding = 'valid' | 'same' | number | backend_util.ExplicitPadding;

/** The geometry of the forward NHWC convolution whose gradients are being computed. */
export interface ForwardConvGeometry {
  batchSize: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

export function forwardConvGeometry(
  kernelName: string,
  inputShape: readonly number[],
  filterShape: readonly number[],
  strides: number | [number, number],
  pad: ConvPadding,
  dataFormat: string | undefined,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
): ForwardConvGeometry {
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new ShapeError(
      `${kernelName}: the composed kernel supports dataFormat 'NHWC' only, got '${dataFormat}'; ` +
        `transpose the tensors to NHWC before the convolution.`,
    );
  }
  const info = backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  return {
    batchSize: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** Kernels get shapes from attributes and inputs separately; a mismatch would silently read garbage. */
export function assertShape(
  kernelName: string,
  inputName: string,
  actual: readonly number[],
  expected: readonly number[],
): void {
  if (actual.length !== expected.length || actual.some((size, axis) => size !== expected[axis])) {
    throw new ShapeError(
      `${kernelName}: ${inputName} has shape [${actual.join(', ')}] but the convolution attributes imply ` +
        `[${expected.join(', ')}]; pass the forward convolution's strides, padding and shapes unchanged.`,
    );
  }
}
