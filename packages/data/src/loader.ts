import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { type Batch, ConfigError, MlaanError, SeededRandom } from '@mlaan/core';
import type { SerializedError, WorkerReply, WorkerRequest } from './augment-worker.js';
import { DatasetFormatError, DatasetNotFoundError } from './errors.js';
import { ImageFileProblem } from './image/jpeg.js';
import { chooseJpegDecoder, type JpegDecoderName, loadSharp } from './image/sharp.js';
import { InputBufferRecycler } from './input-buffer-recycler.js';
import { loaderOptions } from './options.js';
import { prepareBatchWithSharp } from './native-pipeline.js';
import {
  type BadImagePolicy,
  type BatchRequest,
  type BatchSourceDescription,
  type PreparedInputs,
  type SampleSource,
  type SkippedImage,
  createSampleSource,
  drawsPerExample,
  prepareBatch,
} from './pipeline.js';
import { type Transform, datasetSpecs, transformOutputSize } from './specs.js';
import type { Dataset } from './types.js';

export interface LoaderOptions {
  batchSize: number;
  /** Shuffle the examples every epoch (seeded). Default: true for the train split, false for test. */
  shuffle?: boolean;
  /**
   * `true`: the dataset's training augmentation (METHOD §6); `false`: its evaluation transform
   * (ImageNet: resize + centre crop; others: none); or a transform of your own.
   * Default: true for the train split, false for test.
   */
  augment?: boolean | Transform;
  /** Seeds shuffling and augmentation: the same seed gives the same batches. Default 0. */
  seed?: number;
  /** Drop the last batch when it is smaller than batchSize. Default false. */
  dropLast?: boolean;
  /**
   * Worker threads that prepare batches while training runs on this thread. 0 prepares each batch
   * on this thread when it is asked for. Default: 1 for in-memory datasets (never more than the
   * cores minus one); for ImageNet, one per core (`os.availableParallelism()`), since a GPU
   * leaves this thread mostly waiting.
   */
  workers?: number;
  /** Batches prepared ahead of the one being consumed, when workers > 0. Default: 2 per worker. */
  prefetch?: number;
  /**
   * JPEG decoder for image folders (ImageNet). `auto` (default): sharp (libvips, native, with
   * shrink-on-load) when it is installed, else jpeg-js with one warning; `sharp`: sharp or an
   * error; `jpeg-js`: pure JavaScript, about 4 times the CPU per image (benchmarks/jpeg-pipeline.ts). Both give the same crops and flips;
   * pixels differ by JPEG-decoder and filter rounding (a mean of about 1 level in 255).
   */
  decoder?: 'auto' | JpegDecoderName;
  /**
   * An image that cannot be read or decoded: `fail` (default) throws a DatasetFormatError or
   * DatasetNotFoundError naming the file; `skip` leaves the example out of its batch (the batch is
   * one smaller), warns once per file and lists it in `loader.skippedImages`.
   */
  badImages?: BadImagePolicy;
  /**
   * Write later batches into the inputs arrays of batches you have disposed, instead of new ones.
   * A batch of 128 ImageNet crops is 77 MB; a new array costs a page fault per 4 KiB on its
   * first write, which on the 2-core benchmark machine was about as much CPU as decoding the
   * JPEGs (benchmarks/README.md). An array is reused only after every tensor using its data is
   * disposed, but `inputs.data()` and `dataSync()` on the cpu backend return that same array:
   * leave this off (the default) if you keep those arrays after disposing the batch, since they
   * will be overwritten (or, reused by a worker, emptied).
   */
  reuseInputBuffers?: boolean;
}

/** A batch as typed arrays, before it becomes tensors. */
export interface PreparedBatch {
  /** count × height × width × 3, normalised, NHWC. */
  inputs: Float32Array;
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  /** Files left out of this batch (badImages: 'skip'). */
  skipped: readonly string[];
}

export interface Loader {
  readonly dataset: Dataset;
  readonly batchSize: number;
  /** Batches per epoch. */
  readonly size: number;
  readonly transform: Transform;
  readonly workers: number;
  /** The JPEG decoder in use for image folders (`undefined` for in-memory datasets). */
  readonly decoder: JpegDecoderName | undefined;
  /** Worker threads running now (0 before the first batch and after `close`). */
  readonly runningWorkers: number;
  /** Files left out of batches so far (badImages: 'skip'), each once. */
  readonly skippedImages: readonly string[];
  /** Batches of one epoch as tensors; the caller disposes `inputs` and `labels`. */
  batches(epoch?: number): AsyncIterableIterator<Batch>;
  /** The example indices of `epoch`, in batch order. */
  order(epoch: number): Int32Array;
  /**
   * Prepares one batch on this thread, without making tensors, synchronously: JPEGs decode with
   * jpeg-js whatever `decoder` is (use `prepareAsync` for what the workers compute).
   */
  prepare(epoch: number, batch: number): PreparedBatch;
  /** Prepares one batch on this thread with the loader's decoder: exactly what a worker computes. */
  prepareAsync(epoch: number, batch: number): Promise<PreparedBatch>;
  /**
   * Stops the worker threads and waits until they have exited; batches still being prepared
   * reject. The loader starts workers again if asked for more batches.
   */
  close(): Promise<void>;
}

/**
 * How to start the worker: the compiled file beside this module; when running from sources (tests,
 * `tsx`), a bootstrap that registers tsx's loader in the worker thread and then imports the .ts file.
 */
function workerEntry(): { script: URL | string; eval: boolean } {
  const compiled = new URL('./augment-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return { script: compiled, eval: false };
  const source = new URL('./augment-worker.ts', import.meta.url);
  if (!existsSync(fileURLToPath(source))) {
    throw new MlaanError(`The augmentation worker is missing beside ${fileURLToPath(import.meta.url)}. Rebuild @mlaan/data, or create the loader with workers: 0.`);
  }
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(source.href)}); });`;
  return { script: bootstrap, eval: true };
}

/** Turns a problem reported by the pipeline (on this thread or a worker) into the library's error class. */
function toDataError(error: SerializedError): Error {
  const { problem } = error;
  if (problem) {
    const Class = problem.kind === 'missing' ? DatasetNotFoundError : DatasetFormatError;
    return new Class(error.message, { file: problem.file, expected: problem.expected, found: problem.found });
  }
  return new MlaanError(`Preparing a batch failed: ${error.message}`);
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

interface Pending {
  resolve(prepared: PreparedInputs): void;
  reject(error: Error): void;
}

/** Worker threads answering batch requests by id. Idle workers do not keep the process alive. */
class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending: Map<number, Pending>[] = [];
  private nextId = 0;
  private closing = false;
  private running = 0;

  constructor(count: number, description: BatchSourceDescription) {
    const entry = workerEntry();
    for (let i = 0; i < count; i++) {
      const worker = new Worker(entry.script, { workerData: description, eval: entry.eval });
      const pending = new Map<number, Pending>();
      worker.unref();
      worker.on('message', (reply: WorkerReply) => {
        const waiting = pending.get(reply.id);
        if (!waiting) return;
        pending.delete(reply.id);
        if (pending.size === 0 && !this.closing) worker.unref();
        if ('error' in reply) waiting.reject(toDataError(reply.error));
        else waiting.resolve({ inputs: reply.inputs, skipped: reply.skipped });
      });
      const failAll = (error: Error) => {
        for (const waiting of pending.values()) waiting.reject(error);
        pending.clear();
      };
      worker.on('error', (error) => failAll(new MlaanError(`A loader worker stopped: ${error.message}. Create the loader with workers: 0 to prepare batches on this thread.`)));
      worker.on('exit', (code) => {
        this.running--;
        failAll(
          new MlaanError(
            this.closing ? 'The loader was closed while this batch was being prepared.' : `A loader worker exited (code ${code}) with batches still pending.`,
          ),
        );
      });
      this.running++;
      this.workers.push(worker);
      this.pending.push(pending);
    }
  }

  /** Worker threads that have not exited yet. */
  get size(): number {
    return this.running;
  }

  /** Prepares `request` on worker `workerIndex`; `reused` (a disposed batch's buffer) is transferred to it. */
  run(workerIndex: number, request: BatchRequest, reused?: ArrayBuffer): Promise<PreparedInputs> {
    // A terminated worker drops messages: without this, a batch asked for after close would never settle.
    if (this.closing) return Promise.reject(new MlaanError('The loader was closed while this batch was being prepared.'));
    const worker = this.workers[workerIndex]!;
    const pending = this.pending[workerIndex]!;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (pending.size === 0) worker.ref();
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id, reused } satisfies WorkerRequest, reused ? [reused] : []);
    });
  }

  async close(): Promise<void> {
    // An unreferenced worker would let the process exit before `terminate` resolves (and a late
    // reply must not unreference it again).
    this.closing = true;
    await Promise.all(
      this.workers.map((worker) => {
        worker.ref();
        return worker.terminate();
      }),
    );
  }
}

function defaultWorkers(dataset: Dataset): number {
  // JPEG decoding is the whole cost of an ImageNet batch: a worker per core. In-memory datasets
  // need little, and one worker leaves the other cores to training.
  if (dataset.kind === 'files') return availableParallelism();
  return Math.min(1, Math.max(availableParallelism() - 1, 0));
}

/** The decoder for an image-folder dataset, or a ConfigError saying how to get the one asked for. */
function jpegDecoder(dataset: Dataset, choice: 'auto' | JpegDecoderName): JpegDecoderName | undefined {
  if (dataset.kind !== 'files') return undefined;
  const chosen = chooseJpegDecoder(choice);
  if ('problem' in chosen) {
    throw new ConfigError(`decoder 'sharp' was asked for, but sharp cannot load (${chosen.problem}). Install it with \`npm install sharp\`, or use decoder: 'auto' or 'jpeg-js'.`);
  }
  return chosen.decoder;
}

function checkTransform(transform: Transform, dataset: Dataset): void {
  if (transform.kind === 'pad-crop-flip') {
    if (!Number.isInteger(transform.padding) || transform.padding < 0) throw new ConfigError(`padding must be a non-negative integer, got ${transform.padding}.`);
    if (transform.padMode === 'reflect' && dataset.kind === 'array' && transform.padding >= Math.min(dataset.height, dataset.width)) {
      throw new ConfigError(`Reflect padding ${transform.padding} needs images larger than the padding; these are ${dataset.height}×${dataset.width}. Use a smaller padding.`);
    }
  }
  if (dataset.kind === 'files' && (transform.kind === 'none' || transform.kind === 'pad-crop-flip')) {
    throw new ConfigError(`'${transform.kind}' keeps each image's own size, but ${dataset.name} images vary in size. Use 'random-resized-crop' or 'resize-centre-crop'.`);
  }
  if (transform.kind === 'resize-centre-crop' && transform.resize < transform.size) {
    throw new ConfigError(`resize-centre-crop: resize ${transform.resize} is smaller than the crop ${transform.size}. Make resize at least the crop size.`);
  }
  if ((transform.kind === 'random-resized-crop' || transform.kind === 'resize-centre-crop') && !(Number.isInteger(transform.size) && transform.size > 0)) {
    throw new ConfigError(`${transform.kind}: size must be a positive integer, got ${transform.size}.`);
  }
}

/**
 * A loader over `dataset`: seeded shuffling, the dataset's augmentation and normalisation, and
 * batches as tfjs tensors (`inputs` float32 [N,H,W,3], `labels` int32 [N]). With workers, the next
 * batches are prepared in worker threads while the current one trains.
 */
export function createLoader(dataset: Dataset, given: LoaderOptions): Loader {
  const options = loaderOptions.resolve(given);
  const { batchSize } = options;
  const spec = datasetSpecs[dataset.name];
  const training = dataset.split === 'train';
  const augment = options.augment ?? training;
  const transform: Transform = typeof augment === 'object' ? augment : augment ? spec.train : spec.eval;
  checkTransform(transform, dataset);
  const [height, width] = transformOutputSize(transform, dataset.height, dataset.width);
  const shuffle = options.shuffle ?? training;
  const { seed, dropLast } = options;
  const workers = options.workers ?? defaultWorkers(dataset);
  const prefetch = options.prefetch ?? Math.max(2 * workers, 1);
  const size = dropLast ? Math.floor(dataset.count / batchSize) : Math.ceil(dataset.count / batchSize);
  if (size === 0) throw new ConfigError(`dropLast with batchSize ${batchSize} leaves no batch from ${dataset.count} examples. Use a smaller batchSize.`);

  const { badImages } = options;
  const decoder = jpegDecoder(dataset, options.decoder);
  // Batches still in flight plus the one being trained on, and two the caller may hold a little longer.
  const recycler = options.reuseInputBuffers ? new InputBufferRecycler(prefetch + 3) : undefined;

  const description: BatchSourceDescription =
    dataset.kind === 'array'
      ? { kind: 'array', images: dataset.images, height: dataset.height, width: dataset.width }
      : { kind: 'files', files: dataset.files, decoder };
  let source: SampleSource | undefined;
  let pool: WorkerPool | undefined;
  let cachedOrder: { epoch: number; order: Int32Array } | undefined;
  const pools = new Set<WorkerPool>();
  const skippedImages: string[] = [];
  const skippedSet = new Set<string>();

  const order = (epoch: number): Int32Array => {
    if (cachedOrder?.epoch !== epoch) cachedOrder = { epoch, order: epochOrder(dataset.count, seed, epoch, shuffle) };
    return cachedOrder.order;
  };

  const request = (epoch: number, batch: number): BatchRequest => {
    if (!Number.isInteger(batch) || batch < 0 || batch >= size) throw new ConfigError(`Batch ${batch} does not exist: an epoch has ${size} batches.`);
    const indices = order(epoch).slice(batch * batchSize, Math.min((batch + 1) * batchSize, dataset.count));
    // Augmentation draws come from core's SeededRandom here, on this thread, so workers only compute.
    const random = new SeededRandom(mixSeed(seed, epoch, batch, AUGMENT_STREAM));
    const draws = new Float64Array(indices.length * drawsPerExample(transform));
    for (let i = 0; i < draws.length; i++) draws[i] = random.next();
    return { indices, transform, normalization: dataset.normalization, height, width, draws, badImages };
  };

  const labelsOf = (indices: Int32Array) => Int32Array.from(indices, (index) => dataset.labels[index]!);

  const normalization = { mean: [...dataset.normalization.mean], std: [...dataset.normalization.std] };
  const toBatch = (prepared: PreparedBatch): Batch => ({
    inputs: tf.tensor4d(prepared.inputs, [prepared.count, height, width, 3], 'float32'),
    labels: tf.tensor1d(prepared.labels, 'int32'),
    normalization,
  });

  /** The batch without its skipped examples; each skipped file is warned about once. */
  const finish = (batchRequest: BatchRequest, prepared: PreparedInputs): PreparedBatch => {
    const left = new Set(prepared.skipped.map((image: SkippedImage) => image.position));
    for (const image of prepared.skipped) {
      if (skippedSet.has(image.file)) continue;
      skippedSet.add(image.file);
      skippedImages.push(image.file);
      process.emitWarning(`Skipped ${image.file} (badImages: 'skip'): ${image.message}`, { code: 'MLAAN_BAD_IMAGE' });
    }
    const indices = left.size === 0 ? batchRequest.indices : batchRequest.indices.filter((_, position) => !left.has(position));
    return { inputs: prepared.inputs, labels: labelsOf(indices), count: indices.length, height, width, skipped: prepared.skipped.map((image) => image.file) };
  };

  const rethrow = (error: unknown): never => {
    if (!(error instanceof ImageFileProblem)) throw error;
    throw toDataError({ message: error.message, problem: error });
  };

  /** A batch prepared on this thread in JavaScript (jpeg-js for JPEGs), written into `reused` when given. */
  const prepareInJavaScript = (epoch: number, batch: number, reused?: ArrayBuffer): PreparedBatch => {
    const batchRequest = request(epoch, batch);
    source ??= createSampleSource(description);
    try {
      return finish(batchRequest, prepareBatch(source, batchRequest, reused));
    } catch (error) {
      return rethrow(error);
    }
  };

  const prepare = (epoch: number, batch: number): PreparedBatch => prepareInJavaScript(epoch, batch);

  /** A batch prepared on this thread with the loader's decoder, written into `reused` when given. */
  const prepareHere = async (epoch: number, batch: number, reused?: ArrayBuffer): Promise<PreparedBatch> => {
    if (description.kind !== 'files' || description.decoder !== 'sharp') return prepareInJavaScript(epoch, batch, reused);
    const batchRequest = request(epoch, batch);
    const sharp = loadSharp();
    if (!('sharp' in sharp)) throw new MlaanError(`sharp loaded earlier but not now: ${sharp.problem}`);
    try {
      return finish(batchRequest, await prepareBatchWithSharp(sharp.sharp, description.files, batchRequest, reused));
    } catch (error) {
      return rethrow(error);
    }
  };

  const prepareAsync = (epoch: number, batch: number): Promise<PreparedBatch> => prepareHere(epoch, batch);

  /** The batch as tensors; with reuseInputBuffers, its inputs array is lent until they are disposed. */
  const handOut = (prepared: PreparedBatch): Batch => {
    const batch = toBatch(prepared);
    recycler?.lend(prepared.inputs, batch.inputs);
    return batch;
  };
  const bytesOf = (batch: number) => (Math.min((batch + 1) * batchSize, dataset.count) - batch * batchSize) * height * width * 3 * 4;

  async function* batches(epoch = 0): AsyncIterableIterator<Batch> {
    if (workers === 0) {
      for (let batch = 0; batch < size; batch++) {
        const prepared = await prepareHere(epoch, batch, recycler?.take(bytesOf(batch)));
        if (prepared.count > 0) yield handOut(prepared);
      }
      return;
    }
    if (!pool) {
      pool = new WorkerPool(workers, description);
      pools.add(pool);
    }
    // This epoch's pool: after close() it rejects further batches rather than start new workers mid-epoch.
    const active = pool;
    const inFlight: { request: BatchRequest; prepared: Promise<PreparedInputs> }[] = [];
    let next = 0;
    try {
      for (let batch = 0; batch < size; batch++) {
        while (next < size && inFlight.length < prefetch) {
          const batchRequest = request(epoch, next);
          const prepared = active.run(next % workers, batchRequest, recycler?.take(bytesOf(next)));
          // Handled when its turn comes; until then a rejection (a closed loader) must not count as unhandled.
          prepared.catch(() => undefined);
          inFlight.push({ request: batchRequest, prepared });
          next++;
        }
        const { request: batchRequest, prepared } = inFlight.shift()!;
        const finished = finish(batchRequest, await prepared);
        // A batch whose every image was skipped has nothing to train on.
        if (finished.count > 0) yield handOut(finished);
      }
    } finally {
      // A consumer that stops early leaves batches in flight: let them finish unobserved.
      for (const abandoned of inFlight) abandoned.prepared.catch(() => undefined);
    }
  }

  return {
    dataset,
    batchSize,
    size,
    transform,
    workers,
    decoder,
    get runningWorkers() {
      let running = 0;
      for (const started of pools) running += started.size;
      return running;
    },
    get skippedImages() {
      return [...skippedImages];
    },
    batches,
    order,
    prepare,
    prepareAsync,
    async close() {
      const closing = pool;
      pool = undefined;
      await closing?.close();
      // Counted until their threads have exited, so runningWorkers shows a close that did not finish.
      for (const started of pools) if (started.size === 0) pools.delete(started);
    },
  };
}
