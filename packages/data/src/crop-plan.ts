import type { RandomResizedCrop, ResizeCentreCrop } from './specs.js';

/**
 * The geometry of the ImageNet transforms, decided from an image's size and the pre-drawn random
 * numbers alone (no pixels), so that the JavaScript path (jpeg-js + PIL-style resampling) and the
 * native path (sharp) crop the same boxes, flip the same examples and differ only in decoding and
 * filtering.
 */

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

/**
 * `crop-then-resize`: the box is resampled to the output size (RandomResizedCrop), then maybe
 * mirrored. `resize-then-crop`: the whole image is resampled to `resizedHeight`×`resizedWidth`
 * and the output is the window at (`top`, `left`) of that (Resize + CenterCrop).
 */
export type ResizePlan =
  | { kind: 'crop-then-resize'; box: CropBox; flip: boolean }
  | { kind: 'resize-then-crop'; resizedHeight: number; resizedWidth: number; top: number; left: number };

/** The plan of one example of `height`×`width` pixels, consuming its draws. */
export function planResize(
  transform: RandomResizedCrop | ResizeCentreCrop,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
  random: Draws,
): ResizePlan {
  if (transform.kind === 'random-resized-crop') {
    const box = drawResizedCrop(transform, height, width, random);
    const flip = random.next() < 0.5 && transform.flip;
    return { kind: 'crop-then-resize', box, flip };
  }
  // torchvision Resize(int): the shorter side becomes `resize`, the longer keeps the aspect (truncated).
  const [resizedHeight, resizedWidth] =
    width <= height ? [Math.trunc((transform.resize * height) / width), transform.resize] : [transform.resize, Math.trunc((transform.resize * width) / height)];
  return {
    kind: 'resize-then-crop',
    resizedHeight,
    resizedWidth,
    top: Math.round((resizedHeight - outHeight) / 2),
    left: Math.round((resizedWidth - outWidth) / 2),
  };
}
