import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { MlaanError } from '@mlaan/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoader, type Dataset, loadDataset, type LoadDatasetOptions, type LoaderOptions, transformOutputSize } from './index.js';
import { stl10ImageBytes, svhnMatFile } from './testing/fixtures.js';
import { syntheticDataset } from './testing/synthetic-dataset.js';

/*
 * Issue 25: bad input never crashes, never leaks, never changes state silently. Random dataset
 * files (valid, truncated, padded, with bytes flipped, labels out of range) and random option
 * objects (misspelt keys, wrong types, out-of-range values) go to loadDataset and createLoader.
 * Each case must end in a library error (an MlaanError) or in data that is right: every example
 * once per epoch, shapes as the transform says, finite inputs, the dataset's labels, no tensor
 * left behind and no worker left running. A fixed seed makes a failure reproducible; the time
 * budget (MLAAN_FUZZ_BUDGET_MS, default 20 s per property) keeps CI short. The counts of cases
 * tried are printed.
 */
const SEED = 25;
const BUDGET_MS = Number(process.env.MLAAN_FUZZ_BUDGET_MS ?? 20_000);

const root = mkdtempSync(join(tmpdir(), 'mlaan-fuzz-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Any JSON-like value of a wrong kind, for an option slot. */
const junk = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -3, max: 3 }),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 6 }),
  fc.constant([]),
  fc.constant({}),
);

/** An options object: some known keys with good or junk values, sometimes a misspelt or unknown key. */
function optionsOf(known: Record<string, fc.Arbitrary<unknown>>, required: string[] = []): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.entries(known).map(([key, good]) => [key, fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: junk })] as const);
  return fc.tuple(
    fc.record(Object.fromEntries(entries), { requiredKeys: required }),
    // A misspelt or unknown key in one case of eight.
    fc.oneof(
      { weight: 7, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...Object.keys(known).map((key) => `${key}s`), 'dataDri', 'worker', 'batch_size', 'lr'), junk) },
    ),
  ).map(([options, extra]) => (extra ? { ...options, [extra[0]]: extra[1] } : options));
}

function expectLibraryError(error: unknown): void {
  if (!(error instanceof MlaanError)) throw new Error(`not a library error: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  expect(error.message).not.toMatch(/[^.]\.\.(\s|$)/);
}

/** What one epoch of a loader must give: every example once (or the whole batches), shapes, labels, finite inputs. */
async function checkEpoch(dataset: Dataset, options: LoaderOptions, epoch: number): Promise<void> {
  const loader = createLoader(dataset, options);
  const tensors = tf.memory().numTensors;
  const order = loader.order(epoch);
  const [height, width] = transformOutputSize(loader.transform, dataset.height, dataset.width);
  let seen = 0;
  try {
    for await (const batch of loader.batches(epoch)) {
      const count = batch.labels.shape[0]!;
      expect(batch.inputs.shape).toEqual([count, height, width, 3]);
      expect(count).toBeLessThanOrEqual(options.batchSize);
      expect((batch.inputs.dataSync() as Float32Array).every(Number.isFinite)).toBe(true);
      expect(Array.from(batch.labels.dataSync())).toEqual(Array.from(order.subarray(seen, seen + count), (index) => dataset.labels[index]!));
      seen += count;
      tf.dispose([batch.inputs, batch.labels]);
    }
  } finally {
    await loader.close();
  }
  const whole = options.dropLast ? Math.floor(dataset.count / options.batchSize) * options.batchSize : dataset.count;
  expect(seen).toBe(whole);
  expect(loader.runningWorkers).toBe(0);
  expect(tf.memory().numTensors).toBe(tensors);
}

const transform = fc.oneof(
  fc.boolean(),
  fc.record({ kind: fc.constant('none' as const) }),
  fc.record({ kind: fc.constant('pad-crop-flip' as const), padding: fc.integer({ min: -1, max: 40 }), padMode: fc.constantFrom('reflect' as const, 'zero' as const), flip: fc.boolean() }),
  fc.record({ kind: fc.constant('random-resized-crop' as const), size: fc.integer({ min: 0, max: 40 }), scale: fc.constant([0.5, 1] as const), ratio: fc.constant([0.75, 1.33] as const), flip: fc.boolean() }),
  fc.record({ kind: fc.constantFrom('crop', 'resize') }),
);

const loaderOptions = optionsOf({
  batchSize: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 20 }) }, { weight: 1, arbitrary: fc.integer({ min: -1, max: 0 }) }),
  shuffle: fc.boolean(),
  augment: transform,
  seed: fc.integer({ min: 0, max: 1000 }),
  dropLast: fc.boolean(),
  // Worker threads cost a start-up each; most cases prepare on this thread.
  workers: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -1, max: 1 }) }),
  prefetch: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.constant(0) }),
  decoder: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('auto', 'sharp', 'jpeg-js') }, { weight: 1, arbitrary: fc.constant('libjpeg') }),
  badImages: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('fail', 'skip') }, { weight: 1, arbitrary: fc.constant('ignore') }),
  reuseInputBuffers: fc.boolean(),
}, ['batchSize']);

describe('fuzz: the loaders take any input without crashing, leaking or changing state silently', () => {
  it('createLoader over in-memory datasets with random option objects', async () => {
    let cases = 0;
    let loaders = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 24 }), fc.constantFrom('cifar10' as const, 'svhn' as const), loaderOptions, fc.nat(3), async (count, name, options, epoch) => {
        cases++;
        const dataset = syntheticDataset(count, name);
        const tensors = tf.memory().numTensors;
        try {
          await checkEpoch(dataset, options as unknown as LoaderOptions, epoch);
          loaders++;
        } catch (error) {
          if (error instanceof Error && error.name === 'AssertionError') throw error;
          expectLibraryError(error);
        }
        expect(tf.memory().numTensors).toBe(tensors);
      }),
      { seed: SEED, numRuns: 100_000, interruptAfterTimeLimit: BUDGET_MS, markInterruptAsFailure: false },
    );
    console.log(`fuzz createLoader: ${cases} cases tried (seed ${SEED}), ${loaders} gave a loader and a correct epoch, ${cases - loaders} a library error`);
    expect(loaders).toBeGreaterThan(0);
    expect(cases - loaders).toBeGreaterThan(0);
  });

  it('loadDataset over random SVHN and STL-10 files (valid, cut, padded, flipped, bad labels) with random options', async () => {
    let cases = 0;
    let datasets = 0;
    const corruption = fc.oneof(
      { weight: 6, arbitrary: fc.constant({ kind: 'none' as const }) },
      fc.record({ kind: fc.constant('truncate' as const), bytes: fc.integer({ min: 1, max: 400 }) }),
      fc.record({ kind: fc.constant('append' as const), bytes: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
      fc.constant({ kind: 'empty' as const }),
      fc.constant({ kind: 'missing' as const }),
    );
    const files = fc.record({
      name: fc.constantFrom('svhn' as const, 'stl10' as const),
      labels: fc.oneof(
        { weight: 3, arbitrary: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 0, maxLength: 6 }) },
        { weight: 1, arbitrary: fc.array(fc.integer({ min: -1, max: 300 }), { minLength: 1, maxLength: 6 }) },
      ),
      compress: fc.boolean(),
      corruption,
    });
    const datasetOptions = optionsOf({
      split: fc.oneof({ weight: 8, arbitrary: fc.constant('test') }, { weight: 1, arbitrary: fc.constantFrom('train', 'val') }),
      limit: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: -1, max: 0 }) }),
      verify: fc.boolean(),
      progress: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(files, datasetOptions, async ({ name, labels, compress, corruption: damage }, options) => {
        cases++;
        const dataDir = join(root, `case-${cases}`);
        const written = writeDatasetFiles(dataDir, name, labels, compress, damage);
        const before = readdirSync(dataDir, { recursive: true }).sort();
        // download stays off: a missing file must be an error naming it, never a network fetch.
        const given = { ...options, name, dataDir, download: false } as unknown as LoadDatasetOptions;
        try {
          const dataset = await loadDataset(given);
          datasets++;
          expect(dataset.kind).toBe('array');
          if (dataset.kind !== 'array') return;
          expect(dataset.labels.length).toBe(dataset.count);
          expect(dataset.images.length).toBe(dataset.count * dataset.height * dataset.width * 3);
          expect(Array.from(dataset.labels).every((label) => Number.isInteger(label) && label >= 0 && label < dataset.classes.length)).toBe(true);
          const limit = (options as { limit?: number }).limit;
          expect(dataset.count).toBe(limit === undefined ? written : Math.min(limit, written));
        } catch (error) {
          if (error instanceof Error && error.name === 'AssertionError') throw error;
          expectLibraryError(error);
        }
        // Nothing was written, moved or removed in the data folder.
        expect(readdirSync(dataDir, { recursive: true }).sort()).toEqual(before);
        rmSync(dataDir, { recursive: true, force: true });
      }),
      { seed: SEED, numRuns: 100_000, interruptAfterTimeLimit: BUDGET_MS, markInterruptAsFailure: false },
    );
    console.log(`fuzz loadDataset: ${cases} cases tried (seed ${SEED}), ${datasets} read a dataset, ${cases - datasets} gave a library error`);
    expect(datasets).toBeGreaterThan(0);
    expect(cases - datasets).toBeGreaterThan(0);
  });
});

type Damage = { kind: 'none' | 'empty' | 'missing' } | { kind: 'truncate' | 'append'; bytes: number } | { kind: 'flip'; at: number; mask: number };

function damaged(bytes: Uint8Array, damage: Damage): Uint8Array | undefined {
  switch (damage.kind) {
    case 'none':
      return bytes;
    case 'empty':
      return new Uint8Array(0);
    case 'missing':
      return undefined;
    case 'truncate':
      return bytes.subarray(0, Math.max(0, bytes.length - damage.bytes));
    case 'append':
      return Buffer.concat([bytes, Buffer.alloc(damage.bytes, 7)]);
    case 'flip': {
      if (bytes.length === 0) return bytes;
      const copy = Uint8Array.from(bytes);
      copy[damage.at % copy.length] ^= damage.mask;
      return copy;
    }
  }
}

/** Writes the test split of `name` with `labels` into dataDir, the damage applied to its main file; returns the example count. */
function writeDatasetFiles(dataDir: string, name: 'svhn' | 'stl10', labels: number[], compress: boolean, damage: Damage): number {
  if (name === 'svhn') {
    mkdirSync(join(dataDir, 'svhn'), { recursive: true });
    // svhnMatFile stores the digit 0 as 10, as SVHN does; other labels outside 1-10 are corrupt.
    const file = damaged(svhnMatFile(labels, { compress }), damage);
    if (file) writeFileSync(join(dataDir, 'svhn', 'test_32x32.mat'), file);
    return labels.length;
  }
  const folder = join(dataDir, 'stl10', 'stl10_binary');
  mkdirSync(folder, { recursive: true });
  const images = damaged(stl10ImageBytes(labels.length), damage);
  if (images) writeFileSync(join(folder, 'test_X.bin'), images);
  writeFileSync(join(folder, 'test_y.bin'), Uint8Array.from(labels, (label) => (label + 1) & 0xff));
  return labels.length;
}
