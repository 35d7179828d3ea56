import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { encode } from 'jpeg-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLoader, DatasetFormatError, DatasetNotFoundError, decodeJpegFile, loadDataset } from './index.js';
import { sameValues, temporaryFolder } from './testing/fixtures.js';

/** A JPEG of one flat colour, `height`×`width`. */
function flatJpeg(height: number, width: number, rgb: [number, number, number]): Buffer {
  const data = Buffer.alloc(height * width * 4);
  for (let i = 0; i < height * width; i++) data.set([...rgb, 255], i * 4);
  return encode({ data, width, height }, 95).data;
}

/** A JPEG whose left half is black and right half white. */
function halvesJpeg(height: number, width: number): Buffer {
  const data = Buffer.alloc(height * width * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.fill(x < width / 2 ? 0 : 255, (y * width + x) * 4, (y * width + x) * 4 + 3);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  return encode({ data, width, height }, 95).data;
}

const colours: Record<string, [number, number, number]> = { n01: [200, 30, 30], n02: [30, 200, 30], n03: [30, 30, 200] };

describe('ImageNet as class folders of JPEG files', () => {
  const dataDir = temporaryFolder();
  const train = join(dataDir, 'imagenet', 'train');
  const val = join(dataDir, 'imagenet', 'val');

  beforeAll(async () => {
    await tf.setBackend('cpu');
    for (const [wnid, rgb] of Object.entries(colours)) {
      mkdirSync(join(train, wnid), { recursive: true });
      mkdirSync(join(val, wnid), { recursive: true });
      for (let i = 0; i < 4; i++) writeFileSync(join(train, wnid, `${wnid}_${i}.JPEG`), flatJpeg(60 + 10 * i, 80, rgb));
      writeFileSync(join(val, wnid, `val_${wnid}.jpg`), flatJpeg(300, 260, rgb));
      writeFileSync(join(val, wnid, 'notes.txt'), 'not an image');
    }
  });

  it('lists classes sorted, labels by folder, and decodes with the JPEG library', async () => {
    const dataset = await loadDataset({ name: 'imagenet', dataDir });
    if (dataset.kind !== 'files') throw new Error('ImageNet is read file by file');
    expect(dataset.classes).toEqual(['n01', 'n02', 'n03']);
    expect(dataset.count).toBe(12);
    expect(Array.from(dataset.labels)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect([dataset.height, dataset.width]).toEqual([224, 224]);
    const image = decodeJpegFile(dataset.files[5]!);
    expect([image.height, image.width]).toEqual([70, 80]);
    expect(Math.abs(image.data[0]! - 30)).toBeLessThanOrEqual(3);
    expect(Math.abs(image.data[1]! - 200)).toBeLessThanOrEqual(3);
  });

  it('evaluates with resize 256 + centre crop 224, normalised with the ImageNet constants', async () => {
    const dataset = await loadDataset({ name: 'imagenet', split: 'test', dataDir });
    expect(dataset.count).toBe(3);
    const loader = createLoader(dataset, { batchSize: 3, workers: 0 });
    expect(loader.transform).toEqual({ kind: 'resize-centre-crop', resize: 256, size: 224 });
    const before = tf.memory().numTensors;
    for await (const batch of loader.batches()) {
      expect(batch.inputs.shape).toEqual([3, 224, 224, 3]);
      const values = await batch.inputs.data();
      // A flat image stays flat through resampling: every pixel is the normalised colour.
      for (const [n, rgb] of Object.values(colours).entries()) {
        for (let c = 0; c < 3; c++) {
          const expected = (rgb[c]! / 255 - [0.485, 0.456, 0.406][c]!) / [0.229, 0.224, 0.225][c]!;
          expect(Math.abs(values[n * 224 * 224 * 3 + 100 * 224 * 3 + 100 * 3 + c]! - expected)).toBeLessThan(0.06);
        }
      }
      tf.dispose([batch.inputs, batch.labels]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trains with random resized crops: 224×224, seeded, the same in a worker thread', async () => {
    const dataset = await loadDataset({ name: 'imagenet', dataDir, limit: 6 });
    expect(Array.from(dataset.labels)).toEqual([0, 0, 1, 1, 2, 2]);
    const loader = createLoader(dataset, { batchSize: 4, seed: 3, workers: 1 });
    // prepareAsync decodes as the workers do (sharp here); prepare always uses jpeg-js.
    const first = await loader.prepareAsync(0, 0);
    expect(first.inputs.length).toBe(4 * 224 * 224 * 3);
    expect(sameValues((await loader.prepareAsync(0, 0)).inputs, first.inputs)).toBe(true);
    expect(sameValues((await loader.prepareAsync(1, 0)).inputs, first.inputs)).toBe(false);
    expect(loader.prepare(0, 0).inputs.length).toBe(first.inputs.length);
    const fromWorker: Float32Array[] = [];
    for await (const batch of loader.batches(0)) {
      fromWorker.push((await batch.inputs.data()) as Float32Array);
      tf.dispose([batch.inputs, batch.labels]);
    }
    await loader.close();
    expect(fromWorker).toHaveLength(2);
    expect(sameValues(fromWorker[0]!, first.inputs)).toBe(true);
  });

  it('flips: a black|white image comes out either way round', async () => {
    const folder = join(dataDir, 'halves', 'imagenet', 'train', 'n09');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'a.JPEG'), halvesJpeg(64, 64));
    const dataset = await loadDataset({ name: 'imagenet', dataDir: join(dataDir, 'halves') });
    // Keep the whole image (scale 1, ratio 1) so only the flip varies.
    const loader = createLoader(dataset, { batchSize: 1, workers: 0, augment: { kind: 'random-resized-crop', size: 16, scale: [1, 1], ratio: [1, 1], flip: true } });
    const sides = new Set<string>();
    for (let epoch = 0; epoch < 12; epoch++) {
      const { inputs } = loader.prepare(epoch, 0);
      const left = inputs[(8 * 16 + 1) * 3]!;
      const right = inputs[(8 * 16 + 14) * 3]!;
      expect(Math.abs(left - right)).toBeGreaterThan(3);
      sides.add(left < right ? 'dark-left' : 'dark-right');
    }
    expect(sides).toEqual(new Set(['dark-left', 'dark-right']));
  });

  it('names a file that is not a JPEG, on this thread and from a worker', async () => {
    const root = join(dataDir, 'bad');
    const folder = join(root, 'imagenet', 'train', 'n01');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'a.JPEG'), flatJpeg(32, 32, [1, 2, 3]));
    writeFileSync(join(folder, 'b.JPEG'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const dataset = await loadDataset({ name: 'imagenet', dataDir: root });
    for (const workers of [0, 1]) {
      const loader = createLoader(dataset, { batchSize: 2, workers, shuffle: false });
      const error = await (async () => {
        for await (const batch of loader.batches()) tf.dispose([batch.inputs, batch.labels]);
      })().catch((caught) => caught);
      await loader.close();
      expect(error, `workers: ${workers}`).toBeInstanceOf(DatasetFormatError);
      expect(error.file).toBe(join(folder, 'b.JPEG'));
      expect(error.message).toContain('starts like a PNG image');
    }
    await expect(loadDataset({ name: 'imagenet', dataDir: root, verify: true })).rejects.toThrow(/b\.JPEG is not a JPEG file/);
  });

  it('rejects a missing split folder, no class folders and an empty class folder', async () => {
    const root = join(dataDir, 'shapes');
    mkdirSync(join(root, 'imagenet', 'train'), { recursive: true });
    await expect(loadDataset({ name: 'imagenet', dataDir: root })).rejects.toThrow(/holds no class folders/);
    mkdirSync(join(root, 'imagenet', 'train', 'n05'));
    await expect(loadDataset({ name: 'imagenet', dataDir: root })).rejects.toThrow(/n05 holds no JPEG files/);
    const missing = await loadDataset({ name: 'imagenet', split: 'test', dataDir: root }).catch((e) => e);
    expect(missing).toBeInstanceOf(DatasetNotFoundError);
    expect(missing.message).toContain('cannot be downloaded automatically');
    await expect(loadDataset({ name: 'imagenet', split: 'test', dataDir: root, download: true })).rejects.toThrow(DatasetNotFoundError);
  });
});
