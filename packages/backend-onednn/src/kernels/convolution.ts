import {
  backend_util,
  Conv2D,
  type Conv2DAttrs,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  FusedConv2D,
  type FusedConv2DAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';


import { FusedActivation } from '../native.js';
import { fusedActivationPlan } from './fused-activation.js';
import { consistentAfterPadding, nativeKernel } from './native-kernel.js';

type ConvInfo = backend_util.Conv2DInfo;
type Shape4 = [number, number, number, number];

/**
 * Packs a channels-last convolution's geometry for the addon, or returns null for what oneDNN
 * cannot express (channels-first data, padding that does not fit its output-size formula).
 */
export function convolutionGeometry(info: ConvInfo): Int32Array | null {
  if (info.dataFormat !== 'channelsLast') return null;
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
  return Int32Array.of(
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
    bottom,
    right,
  );
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

const conv2d = nativeKernel(Conv2D, ({ inputs, backend, attrs }) => {
  const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, dataFormat } = attrs as unknown as Conv2DAttrs;
  const xValues = backend.floatValues(x);
  const filterValues = backend.floatValues(filter);
  if (!xValues || !filterValues) return null;
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filter.shape as Shape4,
    strides,
    dilations,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  const geometry = convolutionGeometry(info);
  if (!geometry) return null;
  const y = backend.outputBuffer(info.outShape.reduce((a, b) => a * b, 1));
  backend.addon.conv2dForward(xValues, filterValues, null, y, geometry, FusedActivation.None, 0);
  return backend.floatOutput(info.outShape, y);
});

const fusedConv2d = nativeKernel(FusedConv2D, ({ inputs, backend, attrs }) => {
  const { x, filter, bias } = inputs as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, dataFormat, activation: activationName, leakyreluAlpha } = attrs as unknown as FusedConv2DAttrs;
  const activation = fusedActivationPlan(activationName);
  if (activation === undefined) return null;
  const xValues = backend.floatValues(x);
  const filterValues = backend.floatValues(filter);
  if (!xValues || !filterValues) return null;
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filter.shape as Shape4,
    strides,
    dilations,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  const geometry = convolutionGeometry(info);
  if (!geometry) return null;
  let biasValues: Float32Array | null = null;
  if (bias) {
    biasValues = backend.floatValues(bias);
    // A per-channel bias only; a scalar or full-shape bias goes through the cpu kernel.
    if (!biasValues || biasValues.length !== info.outChannels || bias.shape.length !== 1) return null;
  }
  const y = backend.outputBuffer(info.outShape.reduce((a, b) => a * b, 1));
  backend.addon.conv2dForward(
    xValues,
    filterValues,
    biasValues,
    y,
    geometry,
    activation.postOperation,
    leakyreluAlpha ?? 0.2,
  );
  if (activation.clamp) backend.addon.clamp(y, y, ...activation.clamp);
  return backend.floatOutput(info.outShape, y);
});

const conv2dBackpropInput = nativeKernel(Conv2DBackpropInput, ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const dyValues = backend.floatValues(dy);
  const filterValues = backend.floatValues(filter);
  if (!dyValues || !filterValues) return null;
  const { inputShape, strides, pad, dimRoundingMode, dataFormat } = attrs as unknown as Conv2DBackpropInputAttrs;
  const info = backend_util.computeConv2DInfo(
    inputShape as Shape4,
    filter.shape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  const geometry = convolutionGeometry(info);
  // tfjs's Conv2D gradient drops dimRoundingMode, so dy can disagree with the geometry; the cpu
  // kernel then reads the part that fits, and so must this backend to give the same answer.
  if (!geometry || !sameShape(dy.shape, info.outShape)) return null;
  const dx = backend.outputBuffer(info.inShape.reduce((a, b) => a * b, 1));
  backend.addon.conv2dBackwardData(dyValues, filterValues, dx, geometry);
  return backend.floatOutput(info.inShape, dx);
});

const conv2dBackpropFilter = nativeKernel(Conv2DBackpropFilter, ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const xValues = backend.floatValues(x);
  const dyValues = backend.floatValues(dy);
  if (!xValues || !dyValues) return null;
  const { filterShape, strides, pad, dimRoundingMode, dataFormat } = attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  const geometry = convolutionGeometry(info);
  if (!geometry || !sameShape(dy.shape, info.outShape)) return null;
  const dFilter = backend.outputBuffer(filterShape.reduce((a, b) => a * b, 1));
  backend.addon.conv2dBackwardWeights(xValues, dyValues, dFilter, null, geometry);
  return backend.floatOutput([...filterShape], dFilter);
});

export const convolutionKernels: KernelConfig[] = [conv2d, fusedConv2d, conv2dBackpropInput, conv2dBackpropFilter];
