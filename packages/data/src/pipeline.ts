import { decodeJpegFile, ImageFileProblem } from './image/jpeg.js';
import { type Coefficients, resample, resampleCoefficients, reversed } from './image/resample.js';
import { Draws, planResize } from './crop-plan.js';
import type { JpegDecoderName } from './image/sharp.js';
import type { Normalization, PadCropFlip, Transform } from './specs.js';

export { Draws, drawResizedCrop, type CropBox } from './crop-plan.js';

/**
 * The batch preparation itself, on plain typed arrays so that it runs the same on the main
 * thread and in a worker thread: fetch each example's pixels, transform, normalise, write NHWC
 * floats. Nothing here touches tfjs or @mlaan/core (a worker loads only this): the random numbers
 * arrive pre-drawn from the loader's SeededRandom, so a batch is the same whichever thread makes it.
 */

/** One stored image: `height`×`width`×3 bytes (HWC, RGB) starting at `offset` in `data`. */
export interface StoredImage {
  data: Uint8Array;
  offset: number;
  height: number;
  width: number;
}

export interface SampleSource {
  image(index: number): StoredImage;
}

/** What a worker needs to rebuild a SampleSource: plain data that structured clone can carry. */
export type SampleSourceDescription =
  | { kind: 'array'; images: Uint8Array; height: number; width: number }
  | { kind: 'files'; files: readonly string[] };

/** A sample source and, for JPEG files, the decoder the loader chose (sharp runs asynchronously, see native-pipeline.ts). */
export type BatchSourceDescription = SampleSourceDescription & { decoder?: JpegDecoderName };

export function createSampleSource(description: SampleSourceDescription): SampleSource {
  if (description.kind === 'array') {
    const { images, height, width } = description;
    const size = height * width * 3;
    return { image: (index) => ({ data: images, offset: index * size, height, width }) };
  }
  const { files } = description;
  return {
    image(index) {
      const decoded = decodeJpegFile(files[index]!);
      return { data: decoded.data, offset: 0, height: decoded.height, width: decoded.width };
    },
  };
}

/** How many numbers one example's transform consumes (a fixed count, so examples never shift each other). */
export function drawsPerExample(transform: Transform): number {
  switch (transform.kind) {
    case 'pad-crop-flip':
      return 3; // top, left, flip
    case 'random-resized-crop':
      return 10 * 2 + 2 + 1; // ten (area, aspect) tries, top and left, flip
    default:
      return 0;
  }
}

/** `input = pixel * scale + bias` is `(pixel / 255 - mean) / std`. */
export function normalizationAffine(normalization: Normalization): { scale: number[]; bias: number[] } {
  return {
    scale: normalization.std.map((std) => 1 / (255 * std)),
    bias: normalization.mean.map((mean, c) => -mean / normalization.std[c]!),
  };
}

/** Source index along an axis of `size` pixels for padded coordinate `padded`, or -1 for a zero pixel. */
function padIndex(padded: number, padding: number, size: number, mode: PadCropFlip['padMode']): number {
  let index = padded - padding;
  if (index >= 0 && index < size) return index;
  if (mode === 'zero') return -1;
  // Reflect without repeating the edge: -1 → 1, size → size - 2 (PyTorch's 'reflect').
  if (index < 0) index = -index;
  if (index >= size) index = 2 * (size - 1) - index;
  return index;
}

/** The draws of one pad-crop-flip: crop offsets in the padded image and the flip. */
export interface PadCropDraw {
  top: number;
  left: number;
  flip: boolean;
}

export function drawPadCrop(transform: PadCropFlip, random: Draws): PadCropDraw {
  const top = random.int(2 * transform.padding + 1);
  const left = random.int(2 * transform.padding + 1);
  const flip = random.next() < 0.5 && transform.flip;
  return { top, left, flip };
}

// Source row and column of each output pixel, reused between examples (grown on demand).
let rowMap = new Int32Array(256);
let columnMap = new Int32Array(256);

function padCropFlip(
  image: StoredImage,
  padding: number,
  padMode: PadCropFlip['padMode'],
  draw: PadCropDraw,
  out: Float32Array,
  outOffset: number,
  scale: number[],
  bias: number[],
): void {
  const { data, offset, height, width } = image;
  if (rowMap.length < height) rowMap = new Int32Array(height);
  if (columnMap.length < width) columnMap = new Int32Array(width);
  for (let y = 0; y < height; y++) rowMap[y] = padIndex(y + draw.top, padding, height, padMode);
  for (let x = 0; x < width; x++) {
    // Flip after the crop: output column x shows crop column width-1-x.
    columnMap[x] = padIndex((draw.flip ? width - 1 - x : x) + draw.left, padding, width, padMode);
  }
  const [scaleRed, scaleGreen, scaleBlue] = scale as [number, number, number];
  const [biasRed, biasGreen, biasBlue] = bias as [number, number, number];
  let target = outOffset;
  for (let y = 0; y < height; y++) {
    const row = rowMap[y]!;
    if (row < 0) {
      for (let x = 0; x < width; x++) {
        out[target++] = biasRed;
        out[target++] = biasGreen;
        out[target++] = biasBlue;
      }
      continue;
    }
    const rowBase = offset + row * width * 3;
    for (let x = 0; x < width; x++) {
      const column = columnMap[x]!;
      if (column < 0) {
        out[target++] = biasRed;
        out[target++] = biasGreen;
        out[target++] = biasBlue;
      } else {
        const source = rowBase + column * 3;
        out[target++] = data[source]! * scaleRed + biasRed;
        out[target++] = data[source + 1]! * scaleGreen + biasGreen;
        out[target++] = data[source + 2]! * scaleBlue + biasBlue;
      }
    }
  }
}

/** Writes one transformed, normalised example (outHeight×outWidth×3 floats) at `outOffset`. */
export function transformExample(
  image: StoredImage,
  transform: Transform,
  random: Draws,
  out: Float32Array,
  outOffset: number,
  outHeight: number,
  outWidth: number,
  scale: number[],
  bias: number[],
): void {
  switch (transform.kind) {
    case 'none':
    case 'pad-crop-flip': {
      // The loader allows these transforms only for in-memory datasets, whose images all have the batch size.
      if (transform.kind === 'none') padCropFlip(image, 0, 'zero', { top: 0, left: 0, flip: false }, out, outOffset, scale, bias);
      else padCropFlip(image, transform.padding, transform.padMode, drawPadCrop(transform, random), out, outOffset, scale, bias);
      return;
    }
    case 'random-resized-crop':
    case 'resize-centre-crop': {
      const plan = planResize(transform, image.height, image.width, outHeight, outWidth, random);
      let rows: Coefficients;
      let columns: Coefficients;
      if (plan.kind === 'crop-then-resize') {
        const { box } = plan;
        rows = resampleCoefficients(image.height, box.top, box.top + box.height, outHeight);
        columns = resampleCoefficients(image.width, box.left, box.left + box.width, outWidth);
        if (plan.flip) columns = reversed(columns);
      } else {
        rows = resampleCoefficients(image.height, 0, image.height, plan.resizedHeight, plan.top, outHeight);
        columns = resampleCoefficients(image.width, 0, image.width, plan.resizedWidth, plan.left, outWidth);
      }
      resample(image.data, image.offset, image.width, rows, columns, out, outOffset, scale, bias);
      return;
    }
  }
}

/** What to do with an image that cannot be read or decoded: fail the batch, or leave the example out of it. */
export type BadImagePolicy = 'fail' | 'skip';

export interface BatchRequest {
  indices: Int32Array;
  transform: Transform;
  normalization: Normalization;
  height: number;
  width: number;
  /** drawsPerExample(transform) numbers per example, in example order. */
  draws: Float64Array;
  /** Default 'fail'. */
  badImages?: BadImagePolicy;
}

/** An example left out of its batch (badImages: 'skip'): its position in the request and the problem. */
export interface SkippedImage {
  position: number;
  kind: ImageFileProblem['kind'];
  file: string;
  message: string;
  expected: string;
  found: string;
}

/** A batch's inputs, the skipped examples' slots removed. */
export interface PreparedInputs {
  inputs: Float32Array;
  skipped: SkippedImage[];
}

/** Records `error` as a skipped example when the request allows it; rethrows otherwise. */
export function skipOrThrow(error: unknown, position: number, request: BatchRequest, skipped: SkippedImage[]): void {
  if (!(error instanceof ImageFileProblem) || request.badImages !== 'skip') throw error;
  skipped.push({ position, kind: error.kind, file: error.file, message: error.message, expected: error.expected, found: error.found });
}

/** The inputs without the slots of the skipped examples (the same array when none were skipped). */
export function withoutSkipped(inputs: Float32Array, exampleSize: number, skipped: readonly SkippedImage[]): Float32Array {
  if (skipped.length === 0) return inputs;
  const left = new Set(skipped.map((image) => image.position));
  const count = inputs.length / exampleSize;
  const out = new Float32Array((count - left.size) * exampleSize);
  let target = 0;
  for (let i = 0; i < count; i++) {
    if (left.has(i)) continue;
    out.set(inputs.subarray(i * exampleSize, (i + 1) * exampleSize), target);
    target += exampleSize;
  }
  return out;
}

/**
 * The array a batch of `length` floats is written into: a view of `reused` (the buffer of a batch
 * the caller has disposed, see InputBufferRecycler) when it has room, else a new array. Batches
 * overwrite every float of their examples, so stale contents never show.
 */
export function batchOutput(length: number, reused?: ArrayBuffer): Float32Array {
  return reused && reused.byteLength >= length * 4 ? new Float32Array(reused, 0, length) : new Float32Array(length);
}

/**
 * The normalised NHWC inputs of one batch and the examples left out: a pure function of the
 * request. `reused`: a buffer to write them into (batchOutput).
 */
export function prepareBatch(source: SampleSource, request: BatchRequest, reused?: ArrayBuffer): PreparedInputs {
  const { indices, transform, height, width } = request;
  const { scale, bias } = normalizationAffine(request.normalization);
  const perExample = drawsPerExample(transform);
  const exampleSize = height * width * 3;
  const out = batchOutput(indices.length * exampleSize, reused);
  const skipped: SkippedImage[] = [];
  for (let i = 0; i < indices.length; i++) {
    const draws = new Draws(request.draws, i * perExample);
    let image: StoredImage;
    try {
      image = source.image(indices[i]!);
    } catch (error) {
      skipOrThrow(error, i, request, skipped);
      continue;
    }
    transformExample(image, transform, draws, out, i * exampleSize, height, width, scale, bias);
  }
  return { inputs: withoutSkipped(out, exampleSize, skipped), skipped };
}

/** The normalised NHWC inputs of one batch: a pure function of the request. */
export function prepareInputs(source: SampleSource, request: BatchRequest): Float32Array {
  return prepareBatch(source, { ...request, badImages: 'fail' }).inputs;
}
