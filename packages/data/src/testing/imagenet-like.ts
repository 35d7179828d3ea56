import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRandom } from '@mlaan/core';
import { encode } from 'jpeg-js';
import { loadSharp } from '../image/sharp.js';

/**
 * Folders of ImageNet-like JPEGs for tests and benchmarks, generated deterministically from a seed.
 *
 * Flat colours would make decoding unrealistically cheap (JPEG's entropy decoding dominates, and
 * it scales with how much detail survives quantisation) and would hide filtering differences.
 * So each image follows the statistics of natural photographs: a background of fractal noise
 * whose amplitude falls as 1/frequency (the 1/f² power spectrum of natural scenes), coloured
 * through a per-image palette; a few overlapping "objects" (ellipses with their own texture and
 * hard edges); and sensor grain. At quality 90 a 500×375 image takes about 70 KB (an average
 * ImageNet training JPEG, about 400×350, takes about 110 KB).
 */
export interface ImageNetLikeOptions {
  /** Parent folder: the images go to `<root>/imagenet/<split folder>/<class>/<n>.JPEG`. */
  root: string;
  classes: number;
  perClass: number;
  /** Default 500×375 (ImageNet's most common size). */
  width?: number;
  height?: number;
  /** Default 'train'; 'val' for ImageNet's test split. */
  split?: 'train' | 'val';
  /** JPEG quality, default 90. */
  quality?: number;
  seed?: number;
  /**
   * `jpeg-js` (default: the same bytes on every machine) or `sharp` (several times faster, for
   * large folders; its bytes depend on the libjpeg build). The pixels are the same either way.
   */
  encoder?: 'jpeg-js' | 'sharp';
}

/** Adds value noise to `field` over the box (x0, y0, w, h): a random grid with `step`-pixel cells, bilinearly interpolated. */
function addValueNoise(field: Float32Array, fieldWidth: number, box: Box, step: number, amplitude: number, random: SeededRandom): void {
  const gridWidth = Math.ceil(box.width / step) + 2;
  const gridHeight = Math.ceil(box.height / step) + 2;
  const grid = Float32Array.from({ length: gridWidth * gridHeight }, () => random.next() * 2 - 1);
  const columns = Int32Array.from({ length: box.width }, (_, x) => Math.floor(x / step));
  const fractions = Float32Array.from({ length: box.width }, (_, x) => x / step - Math.floor(x / step));
  for (let y = 0; y < box.height; y++) {
    const gy = Math.floor(y / step);
    const fy = y / step - gy;
    const row = (box.y + y) * fieldWidth + box.x;
    for (let x = 0; x < box.width; x++) {
      const g = gy * gridWidth + columns[x]!;
      const fx = fractions[x]!;
      const top = grid[g]! + (grid[g + 1]! - grid[g]!) * fx;
      const bottom = grid[g + gridWidth]! + (grid[g + gridWidth + 1]! - grid[g + gridWidth]!) * fx;
      field[row + x]! += amplitude * (top + (bottom - top) * fy);
    }
  }
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Fractal noise over `box`: octaves from cells half the box wide down to 2-pixel cells, each
 * 0.7 times the amplitude of the one before (a little more fine detail than 1/f, as textured
 * photographs have; JPEG quantises the finest away).
 */
function addFractalNoise(field: Float32Array, fieldWidth: number, box: Box, random: SeededRandom): void {
  for (let step = Math.max(box.width, box.height) / 2, amplitude = 0.5; step >= 2; step /= 2, amplitude *= 0.7) addValueNoise(field, fieldWidth, box, step, amplitude, random);
}

type Colour = readonly [number, number, number];

/** RGBA pixels of one image. */
export function imageNetLikePixels(width: number, height: number, random: SeededRandom): Uint8Array {
  const palette = (): Colour => [random.next() * 255, random.next() * 255, random.next() * 255];
  // Per pixel: which layer shows (0 the background, k the k-th object) and that layer's texture value.
  const texture = new Float32Array(width * height);
  const layer = new Uint8Array(width * height);
  const colours: [Colour, Colour][] = [[palette(), palette()]];
  addFractalNoise(texture, width, { x: 0, y: 0, width, height }, random);
  const objects = 2 + random.int(3);
  for (let k = 1; k <= objects; k++) {
    colours.push([palette(), palette()]);
    const [cx, cy] = [random.next() * width, random.next() * height];
    const [rx, ry] = [(0.1 + random.next() * 0.3) * width, (0.1 + random.next() * 0.3) * height];
    const box = { x: Math.max(0, Math.floor(cx - rx)), y: Math.max(0, Math.floor(cy - ry)), width: 0, height: 0 };
    box.width = Math.min(width, Math.ceil(cx + rx)) - box.x;
    box.height = Math.min(height, Math.ceil(cy + ry)) - box.y;
    if (box.width <= 0 || box.height <= 0) continue;
    const own = new Float32Array(width * height);
    addFractalNoise(own, width, box, random);
    for (let y = box.y; y < box.y + box.height; y++)
      for (let x = box.x; x < box.x + box.width; x++) {
        if (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 > 1) continue;
        layer[y * width + x] = k;
        texture[y * width + x] = own[y * width + x]!;
      }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const [light, dark] = colours[layer[i]!]!;
    const t = Math.min(Math.max(0.5 + texture[i]!, 0), 1);
    // Sensor grain: a triangular distribution of about ±20 levels.
    const grain = (random.next() + random.next() - 1) * 20;
    for (let c = 0; c < 3; c++) rgba[i * 4 + c] = Math.min(Math.max(dark[c]! + (light[c]! - dark[c]!) * t + grain, 0), 255);
    rgba[i * 4 + 3] = 255;
  }
  return rgba;
}

/** One JPEG file's bytes, encoded with jpeg-js. */
export function imageNetLikeJpeg(width: number, height: number, random: SeededRandom, quality = 90): Buffer {
  return encode({ data: Buffer.from(imageNetLikePixels(width, height, random)), width, height }, quality).data;
}

/** sharp's encoder, typed by the calls made here. */
interface SharpEncoder {
  (input: Buffer, options: { raw: { width: number; height: number; channels: 4 } }): {
    removeAlpha(): { jpeg(options: { quality: number }): { toBuffer(): Promise<Buffer> } };
  };
}

async function encodeWithSharp(pixels: Uint8Array, width: number, height: number, quality: number): Promise<Buffer> {
  const loaded = loadSharp();
  if (!('sharp' in loaded)) throw new Error(`writeImageNetLikeFolder: encoder 'sharp' cannot load (${loaded.problem}). Install sharp or use encoder: 'jpeg-js'.`);
  const sharp = loaded.sharp as unknown as SharpEncoder;
  return sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width, height, channels: 4 } })
    .removeAlpha()
    .jpeg({ quality })
    .toBuffer();
}

/**
 * Writes the folder unless a complete one with the same options is there (a `.complete` file
 * holds them), and returns the data directory to pass as `dataDir` to `loadDataset`. A folder
 * without that file (a real dataset?) is never replaced: that is an error.
 */
export async function writeImageNetLikeFolder(options: ImageNetLikeOptions): Promise<string> {
  const { root, classes, perClass } = options;
  const width = options.width ?? 500;
  const height = options.height ?? 375;
  const split = options.split ?? 'train';
  const quality = options.quality ?? 90;
  const seed = options.seed ?? 0;
  const encoder = options.encoder ?? 'jpeg-js';
  const folder = join(root, 'imagenet', split);
  const stamp = JSON.stringify({ classes, perClass, width, height, quality, seed, encoder, generator: 1 });
  const marker = join(folder, '.complete');
  if (existsSync(folder)) {
    // Only ever replace a folder this function wrote: the root might hold a real dataset.
    if (!existsSync(marker)) throw new Error(`${folder} exists and was not written by writeImageNetLikeFolder; it is left alone. Choose another root.`);
    if (readFileSync(marker, 'utf8') === stamp) return root;
  }
  rmSync(folder, { recursive: true, force: true });
  const partial = `${folder}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  const random = new SeededRandom(seed);
  for (let c = 0; c < classes; c++) {
    const classFolder = join(partial, `n${String(c).padStart(8, '0')}`);
    mkdirSync(classFolder, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const pixels = imageNetLikePixels(width, height, random);
      const bytes = encoder === 'sharp' ? await encodeWithSharp(pixels, width, height, quality) : encode({ data: Buffer.from(pixels), width, height }, quality).data;
      writeFileSync(join(classFolder, `${String(i).padStart(5, '0')}.JPEG`), bytes);
    }
  }
  writeFileSync(join(partial, '.complete'), stamp);
  renameSync(partial, folder);
  return root;
}
