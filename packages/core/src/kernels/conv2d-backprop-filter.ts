import {
  Conv2D,
  Conv2DBackpropFilter,
  Slice,
  Transpose,
  type Conv2DBackpropFilterAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { assertShape, forwardConvGeometry } from './conv-geometry.js';
import { disposeIntermediate, runBackendKernel } from './run-kernel.js';

/**
 * Conv2DBackpropFilter (the filter gradient of an NHWC conv2d) composed from the backend's Conv2D.
 *
 * dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh·s + kh − pad, ow·s + kw − pad, ci] · dy[n, oh, ow, co]
 * is itself a stride-1 convolution in which the input channels play the batch, the batch plays the
 * input channels, and dy is the filter, dilated by the forward stride:
 *   conv2d(x: [Cin, H, W, N], dy: [OH, OW, N, Cout], dilation s) → [Cin, KH, KW, Cout].
 * Rows the forward convolution never read (its window stopped short of the edge) are cropped so the
 * result is exactly KH × KW.
 */
export function createConv2DBackpropFilterConfig(backendName: string): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, backend: untypedBackend, attrs }) => {
    const backend = untypedBackend as KernelBackend;
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
      attrs as unknown as Conv2DBackpropFilterAttrs;
    const geometry = forwardConvGeometry(
      Conv2DBackpropFilter,
      x.shape,
      filterShape,
      strides,
      pad,
      dataFormat,
      dimRoundingMode,
    );
    const { inHeight, inWidth, inChannels, batchSize, outHeight, outWidth, outChannels } = geometry;
    const { filterHeight, filterWidth, strideHeight, strideWidth, padTop, padLeft } = geometry;

    assertShape(Conv2DBackpropFilter, 'dy', dy.shape, [batchSize, outHeight, outWidth, outChannels]);

    // Padding after the input that makes the output exactly filterHeight rows; negative = crop.
    const padBottom = filterHeight + (outHeight - 1) * strideHeight - inHeight - padTop;
    const padRight = filterWidth + (outWidth - 1) * strideWidth - inWidth - padLeft;

    const run = (name: string, kernelInputs: Record<string, TensorInfo>, kernelAttrs: NamedAttrMap) =>
      runBackendKernel(name, backendName, backend, kernelInputs, kernelAttrs);

    const xChannelsFirst = run(Transpose, { x }, { perm: [3, 1, 2, 0] });
    let convInput = xChannelsFirst;
    if (padBottom < 0 || padRight < 0) {
      convInput = run(
        Slice,
        { x: xChannelsFirst },
        {
          begin: [0, 0, 0, 0],
          size: [
            inChannels,
            inHeight + Math.min(0, padBottom),
            inWidth + Math.min(0, padRight),
            batchSize,
          ],
        },
      );
      disposeIntermediate(backend, xChannelsFirst);
    }
    const dyAsFilter = run(Transpose, { x: dy }, { perm: [1, 2, 0, 3] });
    const gradientChannelsFirst = run(
      Conv2D,
      { x: convInput, filter: dyAsFilter },
      {
        strides: [1, 1],
        pad: [
          [0, 0],
          [padTop, Math.max(0, padBottom)],
          [padLeft, Math.max(0, padRight)],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [strideHeight, strideWidth],
      },
    );
    disposeIntermediate(backend, convInput, dyAsFilter);
    const gradient = run(Transpose, { x: gradientChannelsFirst }, { perm: [1, 2, 0, 3] });
    disposeIntermediate(backend, gradientChannelsFirst);
    return gradient;
  };
  return { kernelName: Conv2DBackpropFilter, backendName, kernelFunc };
}
