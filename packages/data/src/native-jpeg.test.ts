import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { encode } from 'jpeg-js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Batch, SeededRandom } from '@mlaan/core';
import type { ResizePlan } from './crop-plan.js';
import { chooseJpegDecoder, loadSharp, type SharpModule } from './image/sharp.js';
import { createLoader, DatasetFormatError, datasetSpecs, drawsPerExample, loadDataset, type RandomResizedCrop, type Transform } from './index.js';
import { prepareBatchWithSharp, writeExampleWithSharp } from './native-pipeline.js';
import { type BatchRequest, createSampleSource, normalizationAffine, prepareBatch } from './pipeline.js';
import { imageNetLikeJpeg } from './testing/imagenet-like.js';
import { sameValues, temporaryFolder } from './testing/fixtures.js';

/**
 * The native (sharp) JPEG path against the jpeg-js path. Tolerances come from measurement over
 * ImageNet-like images (README of this package, "Native JPEG decoding"): the per-image mean
 * absolute difference stays near 1 level of 255, the 99th percentile of pixels within a few
 * levels; the largest single differences sit on hard edges, where libjpeg-turbo and jpeg-js
 * upsample chroma differently.
 */
const MEAN_LEVELS = 1.5;
const P99_LEVELS = 4;

let sharp: SharpModule;
const imagenet = datasetSpecs.imagenet;
const train = imagenet.train as RandomResizedCrop;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const loaded = loadSharp();
  if (!('sharp' in loaded)) throw new Error(`sharp must load in this repository's tests: ${loaded.problem}`);
  sharp = loaded.sharp;
});

/** A request for `files` with seeded draws. */
function requestFor(files: readonly string[], transform: Transform, size: number, seed: number): BatchRequest {
  const random = new SeededRandom(seed);
  const draws = Float64Array.from({ length: files.length * drawsPerExample(transform) }, () => random.next());
  return { indices: Int32Array.from(files.keys()), transform, normalization: imagenet.normalization, height: size, width: size, draws };
}

/** Per example: mean absolute difference and the 99th percentile, in pixel levels (0-255). */
function differences(a: Float32Array, b: Float32Array, exampleSize: number): { mean: number; p99: number }[] {
  const { scale } = normalizationAffine(imagenet.normalization);
  const out = [];
  for (let n = 0; n < a.length / exampleSize; n++) {
    const levels = new Float32Array(exampleSize);
    for (let i = 0; i < exampleSize; i++) levels[i] = Math.abs(a[n * exampleSize + i]! - b[n * exampleSize + i]!) / scale[i % 3]!;
    const mean = levels.reduce((sum, value) => sum + value, 0) / exampleSize;
    levels.sort();
    out.push({ mean, p99: levels[Math.floor(0.99 * (exampleSize - 1))]! });
  }
  return out;
}

describe('native JPEG path (sharp) against jpeg-js', () => {
  const folder = temporaryFolder();
  const files: string[] = [];
  beforeAll(() => {
    const random = new SeededRandom(11);
    // Landscape, portrait, small (most crops enlarge) and odd sizes.
    for (const [i, [width, height]] of [[320, 240], [180, 240], [150, 100], [257, 193]].entries()) {
      files.push(join(folder, `${i}.jpg`));
      writeFileSync(files[i]!, imageNetLikeJpeg(width!, height!, random));
    }
  });

  for (const [name, transform, size] of [
    ['random resized crop 224 + flip', train, 224],
    ['random resized crop 64 + flip', { ...train, size: 64 }, 64],
    ['resize 256 + centre crop 224', imagenet.eval, 224],
  ] as const) {
    it(`${name}: the same crops and flips, pixels within decoder differences`, async () => {
      for (const seed of [1, 2, 3]) {
        const request = requestFor(files, transform, size, seed);
        const javascript = prepareBatch(createSampleSource({ kind: 'files', files }), request).inputs;
        const native = (await prepareBatchWithSharp(sharp, files, request)).inputs;
        expect(native.length).toBe(javascript.length);
        for (const [n, difference] of differences(native, javascript, size * size * 3).entries()) {
          expect(difference.mean, `seed ${seed}, image ${n}: mean`).toBeLessThan(MEAN_LEVELS);
          expect(difference.p99, `seed ${seed}, image ${n}: 99th percentile`).toBeLessThan(P99_LEVELS);
        }
      }
    });
  }
});

describe('crop geometry of the native path', () => {
  const folder = temporaryFolder();
  const [width, height] = [200, 120];
  // Red ramps with x, green with y: a pixel's colour says where in the source it came from.
  const rampFile = join(folder, 'ramp.jpg');
  beforeAll(() => {
    const rgba = Buffer.alloc(width * height * 4);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) rgba.set([Math.round((x * 255) / (width - 1)), Math.round((y * 255) / (height - 1)), 128, 255], (y * width + x) * 4);
    writeFileSync(rampFile, encode({ data: rgba, width, height }, 100).data);
  });

  /** Mean error (levels) between the output and the ramp at each output pixel's source centre, away from the borders. */
  async function rampError(plan: ResizePlan, size: number, source: (row: number, column: number) => [number, number]): Promise<number> {
    const pixels = new Float32Array(size * size * 3);
    await writeExampleWithSharp(sharp, rampFile, readFileSync(rampFile), { height, width }, plan, size, size, pixels, 0, [1, 1, 1], [0, 0, 0]);
    let error = 0;
    let count = 0;
    for (let row = 2; row < size - 2; row++)
      for (let column = 2; column < size - 2; column++) {
        const [y, x] = source(row, column);
        error += Math.abs(pixels[(row * size + column) * 3]! - (x * 255) / (width - 1));
        error += Math.abs(pixels[(row * size + column) * 3 + 1]! - (y * 255) / (height - 1));
        count += 2;
      }
    return error / count;
  }

  it('resamples the planned box, mirrored when the plan flips, shrinking (libvips) and enlarging (JavaScript)', async () => {
    for (const [box, size] of [
      [{ top: 30, left: 50, height: 64, width: 96 }, 32],
      [{ top: 50, left: 130, height: 30, width: 40 }, 64],
      [{ top: 10, left: 20, height: 100, width: 30 }, 48],
    ] as const) {
      const centre = (row: number, column: number): [number, number] => [box.top + ((row + 0.5) * box.height) / size - 0.5, box.left + ((column + 0.5) * box.width) / size - 0.5];
      const label = `${box.width}×${box.height} to ${size}`;
      expect(await rampError({ kind: 'crop-then-resize', box, flip: false }, size, centre), label).toBeLessThan(1.5);
      expect(await rampError({ kind: 'crop-then-resize', box, flip: true }, size, (row, column) => centre(row, size - 1 - column)), label).toBeLessThan(1.5);
      // The unflipped plan read as flipped is far off: the check can tell the two apart.
      expect(await rampError({ kind: 'crop-then-resize', box, flip: false }, size, (row, column) => centre(row, size - 1 - column)), label).toBeGreaterThan(5);
    }
  });

  it('resizes the whole image, then takes the planned window', async () => {
    for (const [resizedHeight, resizedWidth, top, left] of [
      [60, 100, 14, 34],
      [300, 500, 134, 234],
    ] as const) {
      const plan: ResizePlan = { kind: 'resize-then-crop', resizedHeight, resizedWidth, top, left };
      const source = (row: number, column: number): [number, number] => [((top + row + 0.5) * height) / resizedHeight - 0.5, ((left + column + 0.5) * width) / resizedWidth - 0.5];
      expect(await rampError(plan, 32, source), `${resizedWidth}×${resizedHeight}`).toBeLessThan(1.5);
    }
  });
});

describe('the loader on the native path', () => {
  const dataDir = temporaryFolder();
  const random = new SeededRandom(3);
  const warnings: string[] = [];
  const onWarning = (warning: Error & { code?: string }) => {
    if (warning.code === 'MLAAN_BAD_IMAGE') warnings.push(warning.message);
  };
  beforeAll(() => {
    process.on('warning', onWarning);
    for (const wnid of ['n01', 'n02']) {
      mkdirSync(join(dataDir, 'imagenet', 'train', wnid), { recursive: true });
      for (let i = 0; i < 5; i++) writeFileSync(join(dataDir, 'imagenet', 'train', wnid, `${i}.JPEG`), imageNetLikeJpeg(96 + 8 * i, 72, random));
    }
  });
  afterEach(() => {
    warnings.length = 0;
  });
  const small = { ...train, size: 32 };

  it('chooses sharp, and gives the same batches under a seed on any number of workers', async () => {
    const dataset = await loadDataset({ name: 'imagenet', dataDir });
    const loader = createLoader(dataset, { batchSize: 4, seed: 7, workers: 2, augment: small });
    expect(loader.decoder).toBe('sharp');
    const collect = async (epoch: number) => {
      const out: Float32Array[] = [];
      for await (const batch of loader.batches(epoch)) {
        out.push((await batch.inputs.data()) as Float32Array);
        tf.dispose([batch.inputs, batch.labels]);
      }
      return out;
    };
    const first = await collect(0);
    const again = await collect(0);
    expect(first).toHaveLength(3);
    first.forEach((inputs, i) => expect(sameValues(inputs, again[i]!), `batch ${i}`).toBe(true));
    expect(sameValues((await loader.prepareAsync(0, 1)).inputs, first[1]!)).toBe(true);
    expect(sameValues((await loader.prepareAsync(1, 1)).inputs, first[1]!)).toBe(false);
    await loader.close();
    const otherSeed = createLoader(dataset, { batchSize: 4, seed: 8, workers: 0, augment: small });
    expect(sameValues((await otherSeed.prepareAsync(0, 1)).inputs, first[1]!)).toBe(false);
    // Written into the arrays of disposed batches (copied here before disposing), the same values.
    for (const workers of [0, 2]) {
      const reusing = createLoader(dataset, { batchSize: 4, seed: 7, workers, augment: small, reuseInputBuffers: true });
      for (const epoch of [0, 0]) {
        let index = 0;
        for await (const batch of reusing.batches(epoch)) {
          expect(sameValues((batch.inputs.dataSync() as Float32Array).slice(), first[index]!), `workers ${workers} batch ${index}`).toBe(true);
          tf.dispose([batch.inputs, batch.labels]);
          index++;
        }
        expect(index).toBe(3);
      }
      await reusing.close();
    }
  });

  it('names a truncated or corrupt JPEG, and fails or skips it as badImages says', async () => {
    const root = join(dataDir, 'bad');
    const folder = join(root, 'imagenet', 'train', 'n01');
    mkdirSync(folder, { recursive: true });
    const good = imageNetLikeJpeg(120, 90, random);
    writeFileSync(join(folder, 'a.JPEG'), good);
    writeFileSync(join(folder, 'b.JPEG'), good.subarray(0, Math.floor(good.length * 0.6)));
    const corrupt = Buffer.from(good);
    const scan = corrupt.findIndex((byte, i) => byte === 0xff && corrupt[i + 1] === 0xda);
    for (let i = scan + 40; i < scan + 400; i++) corrupt[i] = (i * 37) & 0xff;
    writeFileSync(join(folder, 'c.JPEG'), corrupt);
    writeFileSync(join(folder, 'd.JPEG'), good);
    const dataset = await loadDataset({ name: 'imagenet', dataDir: root });
    // Worker threads start slowly under vitest: one case with a worker is enough, the code path is shared.
    for (const [decoder, workers] of [['sharp', 0], ['sharp', 1], ['jpeg-js', 0]] as const) {
      {
        const label = `${decoder}, workers ${workers}`;
        const failing = createLoader(dataset, { batchSize: 4, workers, decoder, shuffle: false, augment: small });
        const error = await (async () => {
          for await (const batch of failing.batches()) tf.dispose([batch.inputs, batch.labels]);
        })().catch((caught: unknown) => caught);
        await failing.close();
        expect(error, label).toBeInstanceOf(DatasetFormatError);
        expect((error as DatasetFormatError).file, label).toBe(join(folder, 'b.JPEG'));
        expect((error as Error).message, label).toMatch(/b\.JPEG is truncated/);

        const skipping = createLoader(dataset, { batchSize: 4, workers, decoder, shuffle: false, augment: small, badImages: 'skip' });
        for (let pass = 0; pass < 2; pass++)
          for await (const batch of skipping.batches()) {
            expect(batch.inputs.shape, label).toEqual([2, 32, 32, 3]);
            expect(Array.from(await batch.labels.data())).toEqual([0, 0]);
            tf.dispose([batch.inputs, batch.labels]);
          }
        await skipping.close();
        await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
        expect(skipping.skippedImages, label).toEqual([join(folder, 'b.JPEG'), join(folder, 'c.JPEG')]);
        // One warning per file and loader, however often it comes round.
        expect(warnings.filter((message) => message.includes('b.JPEG')), label).toHaveLength(1);
        expect(warnings.find((message) => message.includes('c.JPEG')), label).toMatch(/c\.JPEG does not decode as a JPEG/);
        warnings.length = 0;
      }
    }
  });

  it('stops its workers on close, also with batches in flight, and starts them again when asked', async () => {
    const dataset = await loadDataset({ name: 'imagenet', dataDir });
    const loader = createLoader(dataset, { batchSize: 2, seed: 1, workers: 2, prefetch: 4, augment: small });
    expect(loader.runningWorkers).toBe(0);
    const iterator = loader.batches(0);
    const first = (await iterator.next()).value as Batch;
    tf.dispose([first.inputs, first.labels]);
    expect(loader.runningWorkers).toBe(2);
    await loader.close();
    expect(loader.runningWorkers).toBe(0);
    // The rest of the epoch rejects instead of hanging (batches finished before the close may still come).
    let outcome: unknown;
    for (let batch = 1; batch < 5 && outcome === undefined; batch++) {
      await iterator.next().then(
        (result) => tf.dispose([(result.value as Batch).inputs, (result.value as Batch).labels]),
        (error: unknown) => (outcome = error),
      );
    }
    expect(String(outcome)).toMatch(/closed while this batch was being prepared/);
    let count = 0;
    for await (const batch of loader.batches(1)) {
      count++;
      tf.dispose([batch.inputs, batch.labels]);
    }
    expect(count).toBe(5);
    expect(loader.runningWorkers).toBe(2);
    await loader.close();
    expect(loader.runningWorkers).toBe(0);
  });
});

describe('without sharp', () => {
  it('falls back to jpeg-js with one warning that names the fix, or fails when sharp was asked for', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => {
      if (warning.code === 'MLAAN_JPEG_FALLBACK') warnings.push(warning.message);
    };
    process.on('warning', onWarning);
    try {
      expect(chooseJpegDecoder('auto', 'sharp-that-is-not-installed')).toEqual({ decoder: 'jpeg-js' });
      expect(chooseJpegDecoder('auto', 'sharp-that-is-not-installed')).toEqual({ decoder: 'jpeg-js' });
      expect(chooseJpegDecoder('sharp', 'sharp-that-is-not-installed')).toMatchObject({ problem: expect.stringContaining('sharp-that-is-not-installed') });
      expect(chooseJpegDecoder('jpeg-js')).toEqual({ decoder: 'jpeg-js' });
      expect(chooseJpegDecoder('auto')).toEqual({ decoder: 'sharp' });
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/decode with jpeg-js.*npm install sharp/);
  });
});
