import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';

/**
 * Image resizing as tfjs and PyTorch define it, restricted to the two rules decoders use:
 * `bilinear` with aligned corners (`tf.image.resizeBilinear(x, size, true)`,
 * `F.interpolate(..., mode='bilinear', align_corners=True)`) and `nearest` without
 * (`tf.image.resizeNearestNeighbor(x, size)`, `F.interpolate(..., mode='nearest')`).
 */
export type ResizeInterpolation = 'bilinear' | 'nearest';

/**
 * The resize along one axis as a matrix R [outputSize, inputSize] (row-major): out = R · in.
 * Both rules are separable, so a 2-D resize is R_rows · X · R_colsᵀ per channel.
 */
export function resizeMatrix(inputSize: number, outputSize: number, interpolation: ResizeInterpolation): Float32Array {
  if (!(Number.isInteger(inputSize) && inputSize > 0 && Number.isInteger(outputSize) && outputSize > 0)) {
    throw new ShapeError(`resizeMatrix needs positive integer sizes; got ${inputSize} -> ${outputSize}.`);
  }
  const matrix = new Float32Array(outputSize * inputSize);
  if (interpolation === 'nearest') {
    const scale = inputSize / outputSize;
    for (let r = 0; r < outputSize; r++) matrix[r * inputSize + Math.min(inputSize - 1, Math.floor(r * scale))] = 1;
    return matrix;
  }
  // Aligned corners: the first and last samples of both grids coincide.
  const scale = outputSize > 1 ? (inputSize - 1) / (outputSize - 1) : 0;
  for (let r = 0; r < outputSize; r++) {
    const source = r * scale;
    const low = Math.max(0, Math.floor(source));
    const high = Math.min(inputSize - 1, Math.ceil(source));
    const fraction = source - low;
    matrix[r * inputSize + low] += 1 - fraction;
    matrix[r * inputSize + high] += fraction;
  }
  return matrix;
}

export interface ResizeConv2dOptions {
  /** Zero padding on every side of the resized map, as the convolution's (PyTorch `padding`). */
  padding: number;
  interpolation: ResizeInterpolation;
}

/** Which of the two equal computations `resizeConv2d` runs. */
export type ResizeConv2dPath = 'identity-resize' | 'resize-then-convolve' | 'convolve-then-resize';

interface Geometry {
  batch: number;
  inputHeight: number;
  inputWidth: number;
  channels: number;
  outputChannels: number;
  kernel: number;
  /** Height and width of the resized map. */
  height: number;
  width: number;
  /** Height and width of the convolution's output. */
  outputHeight: number;
  outputWidth: number;
}

function geometry(x: tf.Tensor, filter: tf.Tensor, size: readonly [number, number], padding: number): Geometry {
  if (x.rank !== 4 || filter.rank !== 4 || filter.shape[2] !== x.shape[3] || filter.shape[0] !== filter.shape[1]) {
    throw new ShapeError(
      `resizeConv2d needs NHWC input and a square HWIO filter with matching channels; got input [${x.shape.join(', ')}], filter [${filter.shape.join(', ')}].`,
    );
  }
  const [batch, inputHeight, inputWidth, channels] = x.shape as [number, number, number, number];
  const kernel = filter.shape[0]!;
  const [height, width] = size;
  const outputHeight = height + 2 * padding - kernel + 1;
  const outputWidth = width + 2 * padding - kernel + 1;
  if (!(outputHeight > 0 && outputWidth > 0)) {
    throw new ShapeError(`resizeConv2d: a ${kernel}x${kernel} filter with padding ${padding} does not fit a ${height}x${width} map.`);
  }
  return { batch, inputHeight, inputWidth, channels, outputChannels: filter.shape[3]!, kernel, height, width, outputHeight, outputWidth };
}

/**
 * Multiply-adds per image of both ways to compute a stride-1 conv of the resized map: resizing
 * first convolves every resized pixel; convolving first runs the filter taps as a 1x1 conv on the
 * small map and resizes kernel-many shifted copies of a map with the filter's output channels.
 */
function multiplyAdds(g: Geometry): Record<'resize-then-convolve' | 'convolve-then-resize', number> {
  const taps = g.kernel * g.kernel;
  return {
    'resize-then-convolve': g.outputHeight * g.outputWidth * taps * g.channels * g.outputChannels + g.height * g.width * g.channels * 4,
    'convolve-then-resize':
      g.inputHeight * g.inputWidth * g.channels * taps * g.outputChannels +
      g.inputHeight * g.kernel * g.inputWidth * g.outputWidth * g.kernel * g.outputChannels +
      g.outputHeight * g.inputHeight * g.kernel * g.outputWidth * g.outputChannels,
  };
}

function isIdentityResize(g: Geometry): boolean {
  return g.inputHeight === g.height && g.inputWidth === g.width;
}

/** The path `resizeConv2d` takes for these shapes (exposed for tests and benchmarks). */
export function resizeConv2dPath(
  x: tf.Tensor,
  filter: tf.Tensor,
  size: readonly [number, number],
  options: ResizeConv2dOptions,
): ResizeConv2dPath {
  const g = geometry(x, filter, size, options.padding);
  if (isIdentityResize(g)) return 'identity-resize';
  const cost = multiplyAdds(g);
  return cost['convolve-then-resize'] < cost['resize-then-convolve'] ? 'convolve-then-resize' : 'resize-then-convolve';
}

/**
 * The resize matrix of one axis shifted by every filter tap, zero where the tap reads padding:
 * entry [r, i·k + t] = R[r + t - padding, i]. Row r of the conv's output at tap t reads resized
 * row r + t - padding, which is R's row of that index applied to the small map.
 */
function shiftedResizeMatrix(inputSize: number, resized: number, output: number, kernel: number, padding: number, interpolation: ResizeInterpolation): tf.Tensor3D {
  const data = cached(`shifted ${inputSize} ${resized} ${output} ${kernel} ${padding} ${interpolation}`, () => {
    const base = resizeMatrix(inputSize, resized, interpolation);
    const matrix = new Float32Array(output * inputSize * kernel);
    for (let r = 0; r < output; r++) {
      for (let t = 0; t < kernel; t++) {
        const source = r + t - padding;
        if (source < 0 || source >= resized) continue;
        for (let i = 0; i < inputSize; i++) matrix[r * inputSize * kernel + i * kernel + t] = base[source * inputSize + i]!;
      }
    }
    return matrix;
  });
  return tf.tensor3d(data, [1, output, inputSize * kernel]);
}

/**
 * The resize matrices a training step needs are the same every step: built once per shape and
 * kept as plain arrays (tensors would belong to one backend). Kernels never write to their inputs.
 */
const matrices = new Map<string, Float32Array>();
function cached(key: string, build: () => Float32Array): Float32Array {
  let matrix = matrices.get(key);
  if (!matrix) matrices.set(key, (matrix = build()));
  return matrix;
}

/**
 * resize(x, size) of an NHWC batch as two matrix products, one per axis (no transposes): the same
 * values as tfjs's resize kernels, and a gradient that is the exact transpose under any backend
 * (tfjs 4.22's cpu gradients of `resizeNearestNeighbor` for batches of several images and of
 * `resizeBilinear` for non-square images are wrong).
 */
export function resize(x: tf.Tensor4D, size: readonly [number, number], interpolation: ResizeInterpolation): tf.Tensor4D {
  const [batch, height, width, channels] = x.shape;
  const [outputHeight, outputWidth] = size;
  if (height === outputHeight && width === outputWidth) return x.clone();
  return tf.tidy(() => {
    const columns = tf.tensor3d(cached(`${width} ${outputWidth} ${interpolation}`, () => resizeMatrix(width, outputWidth, interpolation)), [1, outputWidth, width]);
    const alongWidth = tf.matMul(columns, tf.reshape(x, [batch * height, width, channels]));
    const rows = tf.tensor3d(cached(`${height} ${outputHeight} ${interpolation}`, () => resizeMatrix(height, outputHeight, interpolation)), [1, outputHeight, height]);
    return tf.reshape(tf.matMul(rows, tf.reshape(alongWidth, [batch, height, outputWidth * channels])), [batch, outputHeight, outputWidth, channels]);
  });
}

/**
 * conv2d(resize(x, size), filter), stride 1, zero padding `padding`, under tfjs autograd: the
 * first layer of an InfoPro-style decoder. Both the resize and the convolution are linear, so the
 * filter's taps can run on the small map first (a 1x1 conv to k·k·O channels) and the resize,
 * shifted once per tap, after: for a 8x8x64 map resized to 32x32 and a 3x3 conv to 12 channels
 * that is ~7x fewer multiply-adds, and neither the 32x32x64 resized map nor its gradient is ever
 * held. The path with fewer multiply-adds is taken; both give the same values up to float
 * rounding (the sums run in a different order). Same-size resizes are the identity (both rules
 * then sample every input pixel exactly) and convolve directly.
 */
export function resizeConv2d(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  size: readonly [number, number],
  options: ResizeConv2dOptions,
): tf.Tensor4D {
  const path = resizeConv2dPath(x, filter, size, options);
  const { padding, interpolation } = options;
  if (path === 'identity-resize') return tf.conv2d(x, filter, 1, padding);
  if (path === 'resize-then-convolve') return tf.tidy(() => tf.conv2d(resize(x, size, interpolation), filter, 1, padding));
  const g = geometry(x, filter, size, padding);
  const { batch, inputHeight: h, inputWidth: w, channels: c, outputChannels: o, kernel: k } = g;
  return tf.tidy(() => {
    // Taps as columns ordered (column tap b, row tap a, output channel): z[n,i,j,b,a,o] = Σ_c x·W[a,b,c,o].
    const taps = tf.reshape(tf.transpose(filter, [2, 1, 0, 3]), [c, k * k * o]);
    const z = tf.reshape(tf.matMul(tf.reshape(x, [batch * h * w, c]), taps), [batch * h, w * k, k * o]);
    // Along the width: contract (j, b) with the shifted column matrix.
    const columns = shiftedResizeMatrix(w, g.width, g.outputWidth, k, padding, interpolation);
    const alongWidth = tf.reshape(tf.matMul(columns, z), [batch, h, g.outputWidth, k, o]);
    // Along the height: contract (i, a) with the shifted row matrix.
    const rowsFirst = tf.reshape(tf.transpose(alongWidth, [0, 1, 3, 2, 4]), [batch, h * k, g.outputWidth * o]);
    const rowMatrix = shiftedResizeMatrix(h, g.height, g.outputHeight, k, padding, interpolation);
    return tf.reshape(tf.matMul(rowMatrix, rowsFirst), [batch, g.outputHeight, g.outputWidth, o]);
  });
}
