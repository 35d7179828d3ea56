import { decodeJpegFile } from './image/jpeg.js';
import { resample, resampleCoefficients, reversed } from './image/resample.js';
import type { Normalization, PadCropFlip, RandomResizedCrop, Transform } from './specs.js';

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

/** Uniform numbers in [0, 1), drawn ahead by the loader, consumed in order. */
export class Draws {
  constructor(
    private readonly values: Float64Array,
    private position = 0,
  ) {}

  next(): number {
    return this.values[this.position++]!;
  }

  /** Integer in [0, n), as SeededRandom.int. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }
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

/** A crop box in source pixels. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** torchvision's `RandomResizedCrop.get_params`: ten tries at a random area and aspect, then a centre fallback. */
export function drawResizedCrop(transform: RandomResizedCrop, height: number, width: number, random: Draws): CropBox {
  const area = height * width;
  const logRatio = [Math.log(transform.ratio[0]), Math.log(transform.ratio[1])] as const;
  let found: { height: number; width: number } | undefined;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * random.uniform(transform.scale[0], transform.scale[1]);
    const aspect = Math.exp(random.uniform(logRatio[0], logRatio[1]));
    const cropWidth = Math.round(Math.sqrt(targetArea * aspect));
    const cropHeight = Math.round(Math.sqrt(targetArea / aspect));
    if (!found && cropWidth > 0 && cropWidth <= width && cropHeight > 0 && cropHeight <= height) found = { height: cropHeight, width: cropWidth };
  }
  // Position draws are consumed even by the fallback, to keep the count per example fixed.
  const topDraw = random.next();
  const leftDraw = random.next();
  if (found) {
    const top = Math.floor(topDraw * (height - found.height + 1));
    const left = Math.floor(leftDraw * (width - found.width + 1));
    return { top, left, ...found };
  }
  const ratio = width / height;
  let cropWidth = width;
  let cropHeight = height;
  if (ratio < transform.ratio[0]) cropHeight = Math.round(width / transform.ratio[0]);
  else if (ratio > transform.ratio[1]) cropWidth = Math.round(height * transform.ratio[1]);
  return { top: Math.floor((height - cropHeight) / 2), left: Math.floor((width - cropWidth) / 2), height: cropHeight, width: cropWidth };
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
    case 'random-resized-crop': {
      const box = drawResizedCrop(transform, image.height, image.width, random);
      const flip = random.next() < 0.5 && transform.flip;
      const rows = resampleCoefficients(image.height, box.top, box.top + box.height, outHeight);
      const columns = resampleCoefficients(image.width, box.left, box.left + box.width, outWidth);
      resample(image.data, image.offset, image.width, rows, flip ? reversed(columns) : columns, out, outOffset, scale, bias);
      return;
    }
    case 'resize-centre-crop': {
      // torchvision Resize(int): the shorter side becomes `resize`, the longer keeps the aspect (truncated).
      const [resizedHeight, resizedWidth] =
        image.width <= image.height
          ? [Math.trunc((transform.resize * image.height) / image.width), transform.resize]
          : [transform.resize, Math.trunc((transform.resize * image.width) / image.height)];
      const top = Math.round((resizedHeight - outHeight) / 2);
      const left = Math.round((resizedWidth - outWidth) / 2);
      const rows = resampleCoefficients(image.height, 0, image.height, resizedHeight, top, outHeight);
      const columns = resampleCoefficients(image.width, 0, image.width, resizedWidth, left, outWidth);
      resample(image.data, image.offset, image.width, rows, columns, out, outOffset, scale, bias);
      return;
    }
  }
}

export interface BatchRequest {
  indices: Int32Array;
  transform: Transform;
  normalization: Normalization;
  height: number;
  width: number;
  /** drawsPerExample(transform) numbers per example, in example order. */
  draws: Float64Array;
}

/** The normalised NHWC inputs of one batch: a pure function of the request. */
export function prepareInputs(source: SampleSource, request: BatchRequest): Float32Array {
  const { indices, transform, height, width } = request;
  const { scale, bias } = normalizationAffine(request.normalization);
  const perExample = drawsPerExample(transform);
  const exampleSize = height * width * 3;
  const out = new Float32Array(indices.length * exampleSize);
  for (let i = 0; i < indices.length; i++) {
    const draws = new Draws(request.draws, i * perExample);
    transformExample(source.image(indices[i]!), transform, draws, out, i * exampleSize, height, width, scale, bias);
  }
  return out;
}
