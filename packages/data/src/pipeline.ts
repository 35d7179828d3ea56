import { ConfigError, SeededRandom } from '@mlaan/core';
import { decodeJpegFile } from './image/jpeg.js';
import { resample, resampleCoefficients, reversed } from './image/resample.js';
import type { Normalization, PadCropFlip, RandomResizedCrop, Transform } from './specs.js';

/**
 * The batch preparation itself, on plain typed arrays so that it runs the same on the main
 * thread and in a worker thread: fetch each example's pixels, transform, normalise, write NHWC
 * floats. Nothing here touches tfjs.
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

/** Mixes integers into one 32-bit seed (murmur3 rounds), so each (seed, epoch, batch) gets its own stream. */
export function mixSeed(...parts: number[]): number {
  let hash = 0x9747b28c;
  for (const part of parts) {
    let k = Math.imul(part >>> 0, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    hash ^= k;
    hash = (Math.imul((hash << 13) | (hash >>> 19), 5) + 0xe6546b64) | 0;
  }
  hash ^= parts.length;
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}

/** Stream tags so that shuffling and augmentation never draw from the same generator. */
const SHUFFLE_STREAM = 1;
const AUGMENT_STREAM = 2;

/** The example order of `epoch`: a seeded permutation, or 0..count-1 without shuffling. */
export function epochOrder(count: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (shuffle) new SeededRandom(mixSeed(seed, epoch, SHUFFLE_STREAM)).shuffle(order);
  return order;
}

export function augmentationRandom(seed: number, epoch: number, batch: number): SeededRandom {
  return new SeededRandom(mixSeed(seed, epoch, batch, AUGMENT_STREAM));
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

export function drawPadCrop(transform: PadCropFlip, random: SeededRandom): PadCropDraw {
  const top = random.int(2 * transform.padding + 1);
  const left = random.int(2 * transform.padding + 1);
  const flip = transform.flip && random.next() < 0.5;
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
export function drawResizedCrop(transform: RandomResizedCrop, height: number, width: number, random: SeededRandom): CropBox {
  const area = height * width;
  const logRatio = [Math.log(transform.ratio[0]), Math.log(transform.ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * random.uniform(transform.scale[0], transform.scale[1]);
    const aspect = Math.exp(random.uniform(logRatio[0], logRatio[1]));
    const cropWidth = Math.round(Math.sqrt(targetArea * aspect));
    const cropHeight = Math.round(Math.sqrt(targetArea / aspect));
    if (cropWidth > 0 && cropWidth <= width && cropHeight > 0 && cropHeight <= height) {
      const top = random.int(height - cropHeight + 1);
      const left = random.int(width - cropWidth + 1);
      return { top, left, height: cropHeight, width: cropWidth };
    }
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
  random: SeededRandom,
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
      if (image.height !== outHeight || image.width !== outWidth) {
        throw new ConfigError(
          `The '${transform.kind}' transform keeps the image size, but an image is ${image.height}×${image.width} and the batch is ${outHeight}×${outWidth}. ` +
            "Use 'resize-centre-crop' or 'random-resized-crop' for images of varying size.",
        );
      }
      if (transform.kind === 'none') padCropFlip(image, 0, 'zero', { top: 0, left: 0, flip: false }, out, outOffset, scale, bias);
      else padCropFlip(image, transform.padding, transform.padMode, drawPadCrop(transform, random), out, outOffset, scale, bias);
      return;
    }
    case 'random-resized-crop': {
      const box = drawResizedCrop(transform, image.height, image.width, random);
      const flip = transform.flip && random.next() < 0.5;
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
      if (top < 0 || left < 0) {
        throw new ConfigError(`resize-centre-crop: resize ${transform.resize} is smaller than the crop ${outHeight}×${outWidth}. Make resize at least the crop size.`);
      }
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
  seed: number;
  epoch: number;
  batch: number;
}

/** The normalised NHWC inputs of one batch. Deterministic in (seed, epoch, batch, indices). */
export function prepareInputs(source: SampleSource, request: BatchRequest): Float32Array {
  const { indices, transform, height, width } = request;
  const { scale, bias } = normalizationAffine(request.normalization);
  const random = augmentationRandom(request.seed, request.epoch, request.batch);
  const exampleSize = height * width * 3;
  const out = new Float32Array(indices.length * exampleSize);
  for (let i = 0; i < indices.length; i++) {
    transformExample(source.image(indices[i]!), transform, random, out, i * exampleSize, height, width, scale, bias);
  }
  return out;
}
