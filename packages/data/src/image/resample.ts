/**
 * Separable bilinear resampling with PIL's coefficients (`ImagingResample`: a triangle filter
 * whose support widens with the downscaling factor, so shrinking is antialiased). torchvision's
 * Resize and RandomResizedCrop call PIL this way; results stay floats (no rounding to uint8).
 */

/** For each output index: the first input index it reads and its normalised weights. */
export interface Coefficients {
  starts: Int32Array;
  counts: Int32Array;
  /** `stride` weights per output index. */
  weights: Float32Array;
  stride: number;
}

/**
 * Coefficients mapping the input span [in0, in1) (of an axis of `inSize` pixels) onto `outSize`
 * outputs, for output indices `first` .. `first + count - 1` only (a crop of the resized axis).
 */
export function resampleCoefficients(inSize: number, in0: number, in1: number, outSize: number, first = 0, count = outSize): Coefficients {
  const scale = (in1 - in0) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the bilinear (triangle) filter has support 1
  const stride = Math.ceil(support) * 2 + 1;
  const starts = new Int32Array(count);
  const counts = new Int32Array(count);
  const weights = new Float32Array(count * stride);
  for (let i = 0; i < count; i++) {
    const center = in0 + (first + i + 0.5) * scale;
    const start = Math.max(Math.trunc(center - support + 0.5), 0);
    const end = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    for (let x = start; x < end; x++) {
      const distance = Math.abs((x - center + 0.5) / filterScale);
      const weight = distance < 1 ? 1 - distance : 0;
      weights[i * stride + (x - start)] = weight;
      total += weight;
    }
    if (total !== 0) for (let x = 0; x < end - start; x++) weights[i * stride + x]! /= total;
    starts[i] = start;
    counts[i] = end - start;
  }
  return { starts, counts, weights, stride };
}

/** The same coefficients in reverse output order: resampling with them flips the axis. */
export function reversed(coefficients: Coefficients): Coefficients {
  const n = coefficients.starts.length;
  const { stride } = coefficients;
  const out: Coefficients = { starts: new Int32Array(n), counts: new Int32Array(n), weights: new Float32Array(n * stride), stride };
  for (let i = 0; i < n; i++) {
    const j = n - 1 - i;
    out.starts[i] = coefficients.starts[j]!;
    out.counts[i] = coefficients.counts[j]!;
    out.weights.set(coefficients.weights.subarray(j * stride, (j + 1) * stride), i * stride);
  }
  return out;
}

// The horizontal pass's output, reused between calls (resampling is synchronous, one call at a
// time per thread): a new array per example would be zeroed, and page-faulted in when large.
let horizontalScratch = new Float32Array(0);

/**
 * Resamples an HWC RGB image (`width` pixels a row, starting at `offset` in `image`) with the
 * given row and column coefficients, writing `pixel * scale[c] + bias[c]` into `out` at
 * `outOffset` (rows.length × columns.length × 3 floats).
 */
export function resample(
  image: Uint8Array,
  offset: number,
  width: number,
  rows: Coefficients,
  columns: Coefficients,
  out: Float32Array,
  outOffset: number,
  scale: ArrayLike<number>,
  bias: ArrayLike<number>,
): void {
  const outHeight = rows.starts.length;
  const outWidth = columns.starts.length;
  // Horizontal pass over only the source rows the vertical pass will read.
  let firstRow = Infinity;
  let lastRow = -1;
  for (let y = 0; y < outHeight; y++) {
    firstRow = Math.min(firstRow, rows.starts[y]!);
    lastRow = Math.max(lastRow, rows.starts[y]! + rows.counts[y]! - 1);
  }
  const rowCount = lastRow - firstRow + 1;
  if (horizontalScratch.length < rowCount * outWidth * 3) horizontalScratch = new Float32Array(rowCount * outWidth * 3);
  const horizontal = horizontalScratch;
  for (let r = 0; r < rowCount; r++) {
    const rowBase = offset + (firstRow + r) * width * 3;
    let target = r * outWidth * 3;
    for (let x = 0; x < outWidth; x++) {
      const start = columns.starts[x]!;
      const count = columns.counts[x]!;
      const weightBase = x * columns.stride;
      let red = 0;
      let green = 0;
      let blue = 0;
      let source = rowBase + start * 3;
      for (let k = 0; k < count; k++, source += 3) {
        const weight = columns.weights[weightBase + k]!;
        red += image[source]! * weight;
        green += image[source + 1]! * weight;
        blue += image[source + 2]! * weight;
      }
      horizontal[target++] = red;
      horizontal[target++] = green;
      horizontal[target++] = blue;
    }
  }
  const [scaleRed, scaleGreen, scaleBlue] = [scale[0]!, scale[1]!, scale[2]!];
  const [biasRed, biasGreen, biasBlue] = [bias[0]!, bias[1]!, bias[2]!];
  let target = outOffset;
  for (let y = 0; y < outHeight; y++) {
    const start = rows.starts[y]! - firstRow;
    const count = rows.counts[y]!;
    const weightBase = y * rows.stride;
    for (let x = 0; x < outWidth; x++) {
      let red = 0;
      let green = 0;
      let blue = 0;
      let source = (start * outWidth + x) * 3;
      for (let k = 0; k < count; k++, source += outWidth * 3) {
        const weight = rows.weights[weightBase + k]!;
        red += horizontal[source]! * weight;
        green += horizontal[source + 1]! * weight;
        blue += horizontal[source + 2]! * weight;
      }
      out[target++] = red * scaleRed + biasRed;
      out[target++] = green * scaleGreen + biasGreen;
      out[target++] = blue * scaleBlue + biasBlue;
    }
  }
}
