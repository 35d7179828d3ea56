import {
  backend_util,
  BatchMatMul,
  Concat,
  Conv2DBackpropFilter,
  PadV2,
  Reshape,
  StridedSlice,
  Sum,
  type Conv2DBackpropFilterAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { disposeIntermediate, runBackendKernel } from '@mlaan/core';

/** The most rows one chunk's matrix product sums in sequence (then the chunks are summed by a reduction). */
const CHUNK_ROWS = 1024;

interface DeviceLimits {
  device: { limits: { maxStorageBufferBindingSize: number } };
}

/** The largest divisor of `n` that is at most `limit` (at least 1). */
function largestDivisorAtMost(n: number, limit: number): number {
  for (let d = Math.min(n, limit); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/**
 * Conv2DBackpropFilter for tfjs's WebGPU backend, as a matrix product with its sum split into
 * chunks. tfjs 4.22's own kernel runs one GPU thread per filter element that sums over the whole
 * batch and image in sequence: a 3x3 16→16 convolution at batch 128 on 32x32 images is 2 304
 * threads of 131 072 steps each, a few percent of a GPU kept busy, and by design the slowest
 * kernel of a ResNet training step on real hardware. Here:
 *
 *   patches = the KH·KW shifted (strided) windows of the zero-padded input, side by side:
 *             [N·OH·OW, KH·KW·Cin] (im2col; one copy per filter tap);
 *   dW      = Σ over chunks c of patches[c]ᵀ · dy[c], chunks of at most 1 024 rows (whole output
 *             rows of one image), as one batched matrix product [chunks, K, Cout] and one sum
 *             over the chunks, reshaped to [KH, KW, Cin, Cout] (tap-major rows are HWIO order).
 *
 * Every step is one of tfjs's well-parallelised WebGPU kernels (StridedSlice, Concat, the tiled
 * BatchMatMul, a tree reduction), and the chunked sum also rounds better than one long sequential
 * sum. The im2col copy is KH·KW times the input: where it would not fit one storage buffer
 * binding, and for NCHW or dilated convolutions, `fallback()` (tfjs's own kernel) runs instead.
 */
export function createChunkedConv2DBackpropFilterConfig(backendName: string, fallback: () => KernelConfig | undefined): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as KernelBackend;
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    const original = () => {
      const replaced = fallback();
      if (replaced == null) {
        throw new Error(`Conv2DBackpropFilter on '${backendName}' needs the backend's own kernel for this case; import the backend package first.`);
      }
      return replaced.kernelFunc(args);
    };
    if (dataFormat === 'NCHW' || x.dtype !== 'float32') return original();
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth } = info;
    const { filterHeight, filterWidth } = info;
    const taps = filterHeight * filterWidth;
    const patchBytes = batchSize * outHeight * outWidth * taps * inChannels * 4;
    const bindingLimit = (backend as unknown as DeviceLimits).device?.limits?.maxStorageBufferBindingSize ?? 0;
    if (patchBytes > bindingLimit) return original();

    const run = (name: string, inputs: NamedTensorInfoMap | TensorInfo[], attrs: NamedAttrMap = {}) =>
      runBackendKernel(name, backendName, backend, inputs as NamedTensorInfoMap, attrs);

    // Zero padding so that every tap's window lies inside: rows read are (OH-1)·s + KH from -top.
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    const bottom = Math.max(0, (outHeight - 1) * strideHeight + filterHeight - inHeight - top);
    const right = Math.max(0, (outWidth - 1) * strideWidth + filterWidth - inWidth - left);
    const padded =
      top + left + bottom + right > 0
        ? run(PadV2, { x }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 })
        : x;
    const windows: TensorInfo[] = [];
    for (let row = 0; row < filterHeight; row++) {
      for (let column = 0; column < filterWidth; column++) {
        windows.push(
          run(StridedSlice, { x: padded }, {
            begin: [0, row, column, 0],
            end: [batchSize, row + (outHeight - 1) * strideHeight + 1, column + (outWidth - 1) * strideWidth + 1, inChannels],
            strides: [1, strideHeight, strideWidth, 1],
            beginMask: 0,
            endMask: 0,
            ellipsisMask: 0,
            newAxisMask: 0,
            shrinkAxisMask: 0,
          }),
        );
      }
    }
    if (padded !== x) disposeIntermediate(backend, padded);
    const patches = windows.length === 1 ? windows[0]! : run(Concat, windows, { axis: 3 });
    if (patches !== windows[0]) disposeIntermediate(backend, ...windows);

    const rowsPerChunk = largestDivisorAtMost(outHeight, Math.max(1, Math.floor(CHUNK_ROWS / outWidth)));
    const chunkLength = rowsPerChunk * outWidth;
    const chunks = (batchSize * outHeight * outWidth) / chunkLength;
    const depth = taps * inChannels;
    const patchChunks = run(Reshape, { x: patches }, { shape: [chunks, chunkLength, depth] });
    const gradientChunks = run(Reshape, { x: dy }, { shape: [chunks, chunkLength, outChannels] });
    const partial = run(BatchMatMul, { a: patchChunks, b: gradientChunks }, { transposeA: true, transposeB: false });
    disposeIntermediate(backend, patches, patchChunks, gradientChunks);
    const summed = run(Sum, { x: partial }, { axis: [0], keepDims: false });
    disposeIntermediate(backend, partial);
    const gradient = run(Reshape, { x: summed }, { shape: [filterHeight, filterWidth, inChannels, outChannels] });
    disposeIntermediate(backend, summed);
    return gradient;
  };
  return {
    kernelName: Conv2DBackpropFilter,
    backendName,
    kernelFunc,
    setupFunc: (backend) => fallback()?.setupFunc?.(backend),
  };
}
