import {
  Conv2D,
  Conv2DBackpropInput,
  PadV2,
  Reshape,
  Reverse,
  Slice,
  Transpose,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type KernelConfig,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { assertShape, forwardConvGeometry } from './conv-geometry.js';
import { type DecliningKernelFunc, kernelWithFallback } from './kernel-fallback.js';
import { disposeIntermediate, runBackendKernel } from './run-kernel.js';

/**
 * Conv2DBackpropInput (the input gradient of an NHWC conv2d) composed from the backend's Conv2D.
 *
 * The input gradient is the transposed convolution: spread dy back to the input grid by inserting
 * (stride − 1) zeros between its rows and columns, pad it by (filter − 1 − forward pad), and
 * correlate it with the filter flipped in space and with in/out channels swapped. Where the
 * forward padding exceeded filter − 1, or the forward window stopped short of the input edge, the
 * zero-spread dy is cropped instead of padded. `fallback` returns the kernel this one replaced,
 * which still handles NCHW.
 */
export function createConv2DBackpropInputConfig(
  backendName: string,
  fallback: () => KernelConfig | undefined = () => undefined,
): KernelConfig {
  const run: DecliningKernelFunc = (args) => {
    const { inputs, attrs } = args;
    const backend = args.backend as KernelBackend;
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
      attrs as unknown as Conv2DBackpropInputAttrs;
    // NCHW is rare in tfjs; the backend's own kernel (if it had one) still serves it.
    if (dataFormat === 'NCHW' && fallback() != null) return null;
    const geometry = forwardConvGeometry(
      Conv2DBackpropInput,
      inputShape,
      filter.shape,
      strides,
      pad,
      dataFormat,
      dimRoundingMode,
    );
    const { batchSize, inHeight, inWidth, outHeight, outWidth, outChannels } = geometry;
    const { filterHeight, filterWidth, strideHeight, strideWidth, padTop, padLeft } = geometry;
    assertShape(Conv2DBackpropInput, 'dy', dy.shape, [batchSize, outHeight, outWidth, outChannels]);

    const run = (name: string, kernelInputs: Record<string, TensorInfo>, kernelAttrs: NamedAttrMap) =>
      runBackendKernel(name, backendName, backend, kernelInputs, kernelAttrs);

    // Zero-spread dy: [N, OH, 1, OW, 1, C] padded to [N, OH, sh, OW, sw, C] is, in memory, dy with
    // sh − 1 zero rows after each row and sw − 1 zero columns after each column.
    let spread = dy;
    if (strideHeight > 1 || strideWidth > 1) {
      const dyWithUnitAxes = run(
        Reshape,
        { x: dy },
        { shape: [batchSize, outHeight, 1, outWidth, 1, outChannels] },
      );
      const padded = run(
        PadV2,
        { x: dyWithUnitAxes },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, strideHeight - 1],
            [0, 0],
            [0, strideWidth - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
      disposeIntermediate(backend, dyWithUnitAxes);
      spread = run(
        Reshape,
        { x: padded },
        { shape: [batchSize, outHeight * strideHeight, outWidth * strideWidth, outChannels] },
      );
      disposeIntermediate(backend, padded);
    }
    const spreadHeight = outHeight * strideHeight;
    const spreadWidth = outWidth * strideWidth;

    const padBefore = [filterHeight - 1 - padTop, filterWidth - 1 - padLeft];
    const padAfter = [
      inHeight + filterHeight - 1 - padBefore[0] - spreadHeight,
      inWidth + filterWidth - 1 - padBefore[1] - spreadWidth,
    ];
    let convInput = spread;
    if (padBefore.some((size) => size < 0) || padAfter.some((size) => size < 0)) {
      const cropBefore = padBefore.map((size) => Math.max(0, -size));
      const cropAfter = padAfter.map((size) => Math.max(0, -size));
      convInput = run(
        Slice,
        { x: spread },
        {
          begin: [0, cropBefore[0], cropBefore[1], 0],
          size: [
            batchSize,
            spreadHeight - cropBefore[0] - cropAfter[0],
            spreadWidth - cropBefore[1] - cropAfter[1],
            outChannels,
          ],
        },
      );
      if (spread !== dy) disposeIntermediate(backend, spread);
    }

    const flipped = run(Reverse, { x: filter }, { dims: [0, 1] });
    const flippedSwapped = run(Transpose, { x: flipped }, { perm: [0, 1, 3, 2] });
    disposeIntermediate(backend, flipped);
    const dx = run(
      Conv2D,
      { x: convInput, filter: flippedSwapped },
      {
        strides: [1, 1],
        pad: [
          [0, 0],
          [Math.max(0, padBefore[0]), Math.max(0, padAfter[0])],
          [Math.max(0, padBefore[1]), Math.max(0, padAfter[1])],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [1, 1],
      },
    );
    disposeIntermediate(backend, flippedSwapped);
    if (convInput !== dy) disposeIntermediate(backend, convInput);
    return dx;
  };
  return kernelWithFallback({ kernelName: Conv2DBackpropInput, backendName, run, fallback, missingFallback: 'import the backend package first' });
}
