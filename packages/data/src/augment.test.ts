import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@mlaan/core';
import { type ArrayDataset, createLoader, datasetSpecs, type DatasetName, prepareInputs, type Transform } from './index.js';
import { createSampleSource } from './pipeline.js';
import { sameValues } from './testing/fixtures.js';
import { syntheticDataset } from './testing/synthetic-dataset.js';

const SIDE = 32;

/** Raw pixels back from normalised inputs. */
function denormalise(inputs: Float32Array, dataset: ArrayDataset): Float32Array {
  const { mean, std } = dataset.normalization;
  return inputs.map((value, i) => Math.round((value * std[i % 3]! + mean[i % 3]!) * 255));
}

/** The padded image of example n, explicitly: reflect (no edge repeat) or zero. */
function padded(dataset: ArrayDataset, n: number, padding: number, mode: 'reflect' | 'zero'): (y: number, x: number, c: number) => number {
  const side = dataset.height;
  const reflect = (i: number) => (i < 0 ? -i : i >= side ? 2 * side - 2 - i : i);
  return (y, x, c) => {
    const [sy, sx] = [y - padding, x - padding];
    if (mode === 'zero' && (sy < 0 || sy >= side || sx < 0 || sx >= side)) return 0;
    return dataset.images[((n * side + reflect(sy)) * side + reflect(sx)) * 3 + c]!;
  };
}

/** Finds the (top, left, flip) whose window of the padded image equals `out` (side×side×3 raw pixels). */
function findWindow(out: Float32Array, offset: number, image: (y: number, x: number, c: number) => number, padding: number, side: number) {
  const found: { top: number; left: number; flip: boolean }[] = [];
  for (let top = 0; top <= 2 * padding; top++)
    for (let left = 0; left <= 2 * padding; left++)
      for (const flip of [false, true]) {
        let equal = true;
        for (let y = 0; y < side && equal; y++)
          for (let x = 0; x < side && equal; x++)
            for (let c = 0; c < 3; c++) {
              if (out[offset + (y * side + x) * 3 + c] !== image(top + y, left + (flip ? side - 1 - x : x), c)) {
                equal = false;
                break;
              }
            }
        if (equal) found.push({ top, left, flip });
      }
  return found;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('CIFAR augmentation: reflect-pad 4, random crop 32, horizontal flip', () => {
  const dataset = syntheticDataset(20);

  it('uses the METHOD §6 transform and the CIFAR normalisation', () => {
    const loader = createLoader(dataset, { batchSize: 8, workers: 0 });
    expect(loader.transform).toEqual({ kind: 'pad-crop-flip', padding: 4, padMode: 'reflect', flip: true });
    const evaluation = createLoader(dataset, { batchSize: 8, workers: 0, augment: false, shuffle: false });
    const { inputs } = evaluation.prepare(0, 0);
    // Example 0, pixel (0, 1), red: 3 → (3/255 - 125.3/255) / (63.0/255) = (3 - 125.3) / 63.
    expect(inputs[3]).toBeCloseTo((3 - 125.3) / 63.0, 5);
    // Example 1, pixel (2, 0), blue: 16 + 10 + 100 = 126 → (126 - 113.9) / 66.7.
    expect(inputs[SIDE * SIDE * 3 + 2 * SIDE * 3 + 2]).toBeCloseTo((126 - 113.9) / 66.7, 5);
  });

  it('pads by reflection without repeating the edge (hand-computed columns)', () => {
    const source = createSampleSource({ kind: 'array', images: dataset.images, height: SIDE, width: SIDE });
    const transform: Transform = { kind: 'pad-crop-flip', padding: 4, padMode: 'reflect', flip: true };
    const normalization = { mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255] } as const;
    // Draws (top, left, flip) = (0, 0, no flip): output (y, x) is padded (y, x), i.e. source (y-4, x-4) reflected.
    const inputs = prepareInputs(source, { indices: Int32Array.of(0), transform, normalization, height: SIDE, width: SIDE, draws: Float64Array.of(0, 0, 0.9) });
    const red = (y: number, x: number) => Math.round(inputs[(y * SIDE + x) * 3]!);
    const value = (y: number, x: number) => (y * 5 + x * 3) % 256;
    // Padded columns 0..4 read source columns 4, 3, 2, 1, 0; padded rows likewise.
    expect([0, 1, 2, 3, 4].map((x) => red(4, x))).toEqual([4, 3, 2, 1, 0].map((x) => value(0, x)));
    expect([0, 1, 2, 3, 4].map((y) => red(y, 4))).toEqual([4, 3, 2, 1, 0].map((y) => value(y, 0)));
    // Bottom-right corner, draws (8, 8): output (31, 31) is padded (39, 39) → source (35, 35) → reflected 2*31-35 = 27.
    const corner = prepareInputs(source, { indices: Int32Array.of(0), transform, normalization, height: SIDE, width: SIDE, draws: Float64Array.of(0.99, 0.99, 0.9) });
    expect(Math.round(corner[(31 * SIDE + 31) * 3]!)).toBe(value(27, 27));
    expect(Math.round(corner[(31 * SIDE + 28) * 3]!)).toBe(value(27, 30));
    // Flip (draw < 0.5) after the crop: output column x is crop column 31 - x.
    const flipped = prepareInputs(source, { indices: Int32Array.of(0), transform, normalization, height: SIDE, width: SIDE, draws: Float64Array.of(0.5, 0.5, 0.1) });
    expect(Math.round(flipped[(10 * SIDE + 0) * 3]!)).toBe(value(10, 31));
    expect(Math.round(flipped[(10 * SIDE + 31) * 3]!)).toBe(value(10, 0));
  });

  it('every crop is a window of the reflect-padded image, offsets cover 0..8, both flips occur', () => {
    const loader = createLoader(dataset, { batchSize: 20, seed: 11, workers: 0 });
    const tops = new Set<number>();
    const flips = new Set<boolean>();
    for (let epoch = 0; epoch < 4; epoch++) {
      const { inputs } = loader.prepare(epoch, 0);
      const raw = denormalise(inputs, dataset);
      const order = loader.order(epoch);
      for (let i = 0; i < 20; i++) {
        const windows = findWindow(raw, i * SIDE * SIDE * 3, padded(dataset, order[i]!, 4, 'reflect'), 4, SIDE);
        expect(windows.length, `epoch ${epoch} example ${i}`).toBeGreaterThan(0);
        tops.add(windows[0]!.top);
        flips.add(windows[0]!.flip);
      }
    }
    expect(tops.size).toBeGreaterThan(5);
    expect(flips).toEqual(new Set([false, true]));
  });

  it('is deterministic under a seed: same seed, same batches; another seed or epoch, others', () => {
    const batchesOf = (seed: number, epoch: number) => {
      const loader = createLoader(dataset, { batchSize: 6, seed, workers: 0 });
      return Array.from({ length: loader.size }, (_, b) => loader.prepare(epoch, b));
    };
    const a = batchesOf(5, 0);
    const b = batchesOf(5, 0);
    expect(a).toHaveLength(4);
    a.forEach((batch, i) => {
      expect(sameValues(batch.inputs, b[i]!.inputs)).toBe(true);
      expect(Array.from(batch.labels)).toEqual(Array.from(b[i]!.labels));
    });
    expect(sameValues(batchesOf(6, 0)[0]!.inputs, a[0]!.inputs)).toBe(false);
    expect(sameValues(batchesOf(5, 1)[0]!.inputs, a[0]!.inputs)).toBe(false);
  });

  it('shuffles into a permutation each epoch, keeps file order without shuffling', () => {
    const loader = createLoader(dataset, { batchSize: 6, seed: 2, workers: 0 });
    const first = Array.from(loader.order(0));
    expect([...first].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(first).not.toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(Array.from(loader.order(1))).not.toEqual(first);
    const ordered = createLoader(dataset, { batchSize: 6, shuffle: false, workers: 0 });
    expect(Array.from(ordered.order(3))).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('delivers NHWC float32 inputs, int32 labels and the normalisation, without leaking tensors', async () => {
    const loader = createLoader(dataset, { batchSize: 8, seed: 1, workers: 0 });
    expect(loader.size).toBe(3);
    expect(createLoader(dataset, { batchSize: 8, dropLast: true, workers: 0 }).size).toBe(2);
    const before = tf.memory().numTensors;
    const sizes: number[] = [];
    for await (const batch of loader.batches(0)) {
      expect(batch.inputs.dtype).toBe('float32');
      expect(batch.labels.dtype).toBe('int32');
      expect(batch.inputs.shape.slice(1)).toEqual([32, 32, 3]);
      expect(batch.normalization).toEqual({ mean: [...dataset.normalization.mean], std: [...dataset.normalization.std] });
      const labels = Array.from(await batch.labels.data());
      const order = Array.from(loader.order(0)).slice(sizes.length * 8, sizes.length * 8 + labels.length);
      expect(labels).toEqual(order.map((index) => dataset.labels[index]));
      sizes.push(batch.inputs.shape[0]);
      tf.dispose([batch.inputs, batch.labels]);
    }
    expect(sizes).toEqual([8, 8, 4]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the same batches from a worker thread as on this thread, and stops cleanly early', async () => {
    const loader = createLoader(dataset, { batchSize: 6, seed: 9, workers: 1 });
    expect(loader.workers).toBe(1);
    const before = tf.memory().numTensors;
    let index = 0;
    for await (const batch of loader.batches(2)) {
      const expected = loader.prepare(2, index++);
      expect(sameValues((await batch.inputs.data()) as Float32Array, expected.inputs)).toBe(true);
      expect(Array.from(await batch.labels.data())).toEqual(Array.from(expected.labels));
      tf.dispose([batch.inputs, batch.labels]);
    }
    expect(index).toBe(4);
    for await (const batch of loader.batches(3)) {
      tf.dispose([batch.inputs, batch.labels]);
      break;
    }
    await loader.close();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([0, 1])('reuseInputBuffers (workers %i): the same batches, written into the arrays of disposed ones only', async (workers) => {
    const reference = createLoader(dataset, { batchSize: 6, seed: 4, workers: 0 });
    const loader = createLoader(dataset, { batchSize: 6, seed: 4, workers, reuseInputBuffers: true });
    for (const epoch of [0, 1]) {
      let index = 0;
      // Batch 0 stays alive through the epoch: its array must never be written again.
      let kept: tf.Tensor | undefined;
      let disposedValues: Float32Array | undefined;
      for await (const batch of loader.batches(epoch)) {
        const expected = reference.prepare(epoch, index);
        expect(sameValues(batch.inputs.dataSync() as Float32Array, expected.inputs), `epoch ${epoch} batch ${index}`).toBe(true);
        if (index === 0) kept = batch.inputs;
        else if (index === 1) {
          disposedValues = batch.inputs.dataSync() as Float32Array;
          batch.inputs.dispose();
        } else batch.inputs.dispose();
        batch.labels.dispose();
        index++;
      }
      expect(index).toBe(4);
      expect(sameValues(kept!.dataSync() as Float32Array, reference.prepare(epoch, 0).inputs)).toBe(true);
      kept!.dispose();
      // The cpu backend's data() is the batch's own array: a later batch took it over (a worker
      // had it transferred, which empties it here; this thread wrote another batch into it).
      const reused = disposedValues!.length === 0 || !sameValues(disposedValues!, reference.prepare(epoch, 1).inputs);
      expect(reused).toBe(true);
    }
    await loader.close();
  });

  it('refuses bad options', () => {
    expect(() => createLoader(dataset, { batchSize: 0 })).toThrow(ConfigError);
    expect(() => createLoader(dataset, { batchSize: 4, workers: -1 })).toThrow(/createLoader\(\): workers must be an integer >= 0/);
    expect(() => createLoader(dataset, { batchSize: 64, dropLast: true })).toThrow(/leaves no batch/);
    expect(() => createLoader(dataset, { batchSize: 4, augment: { kind: 'pad-crop-flip', padding: 32, padMode: 'reflect', flip: false } })).toThrow(/Reflect padding 32/);
    expect(() => createLoader(syntheticDataset(2), { batchSize: 1, workers: 0 }).prepare(0, 5)).toThrow(/Batch 5 does not exist: an epoch has 2 batches/);
  });
});

describe('SVHN and STL-10 augmentation', () => {
  it('SVHN: zero-pad 2, crop 32, never flipped; padding is pixel 0, i.e. -1 after normalisation', () => {
    const dataset = syntheticDataset(10, 'svhn');
    const loader = createLoader(dataset, { batchSize: 10, seed: 4, workers: 0 });
    expect(loader.transform).toEqual({ kind: 'pad-crop-flip', padding: 2, padMode: 'zero', flip: false });
    let sawPadding = false;
    for (let epoch = 0; epoch < 3; epoch++) {
      const { inputs } = loader.prepare(epoch, 0);
      if (inputs.some((value) => value === -1)) sawPadding = true;
      const raw = denormalise(inputs, dataset);
      const order = loader.order(epoch);
      for (let i = 0; i < 10; i++) {
        const windows = findWindow(raw, i * SIDE * SIDE * 3, padded(dataset, order[i]!, 2, 'zero'), 2, SIDE);
        expect(windows.some((window) => !window.flip)).toBe(true);
      }
    }
    expect(sawPadding).toBe(true);
  });

  it('STL-10: zero-pad 4, crop 96, flip', () => {
    const dataset = syntheticDataset(4, 'stl10', 96);
    const loader = createLoader(dataset, { batchSize: 4, seed: 8, workers: 0 });
    expect(loader.transform).toEqual({ kind: 'pad-crop-flip', padding: 4, padMode: 'zero', flip: true });
    const { inputs, height, width } = loader.prepare(0, 0);
    expect([height, width, inputs.length]).toEqual([96, 96, 4 * 96 * 96 * 3]);
    const raw = denormalise(inputs, dataset);
    const order = loader.order(0);
    for (let i = 0; i < 4; i++) expect(findWindow(raw, i * 96 * 96 * 3, padded(dataset, order[i]!, 4, 'zero'), 4, 96).length).toBeGreaterThan(0);
  });
});
