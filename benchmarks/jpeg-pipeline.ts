/**
 * JPEG input pipeline benchmark (issue #18): training images per second delivered as NHWC float32
 * tensors at batch 128 (ImageNet's random resized crop 224 + flip, normalised), from a folder of
 * ImageNet-like JPEGs, for the jpeg-js and the native (sharp) decoder at 1 and 2 worker threads,
 * sharp also with `reuseInputBuffers`. Nothing trains: this is the rate at which the loader could
 * feed an accelerator. Besides images/s it reports CPU milliseconds per delivered image over the
 * whole process (worker threads and native thread pools included) and, on Linux, split by thread
 * (main, the loader's worker threads, libuv's pool with V8's helper threads, libvips' threads);
 * CPU per image stays comparable when other jobs load the machine, images/s does not. First it
 * times the native path's stages one image at a time (benchmarks/lib/jpeg-stages.ts).
 *
 *   npx turbo run build --filter=@mlaan/data...
 *   npx tsx benchmarks/jpeg-pipeline.ts [--images 2000] [--rounds 3] [--batches 8] [--cache <dir>] [--out <file>]
 *   npx tsx benchmarks/jpeg-pipeline.ts --data-dir <dir>    # real JPEGs: <dir>/imagenet/train/<class>/*.JPEG
 *
 * The images (500×375, quality 90; @mlaan/data/testing's generator: fractal-noise backgrounds with
 * a 1/f-like spectrum, textured objects with hard edges, sensor grain) are generated once,
 * deterministically from seed 0, into a cache folder outside the repository (default: the system
 * temp folder), and reused. Rounds alternate the configurations so that a shared machine's load
 * falls on all of them; the median round is reported. Writes benchmarks/results/jpeg-pipeline.json
 * with the command and the load average before and after.
 */
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createLoader, datasetSpecs, type Dataset, type ImageFolderDataset, type JpegDecoderName, loadDataset } from '@mlaan/data';
import { writeImageNetLikeFolder } from '@mlaan/data/testing';
import { jpegStages } from './lib/jpeg-stages.js';
import { describeMachine, writeResults } from './lib/results.js';
import { threadCpu } from './lib/thread-cpu.js';

const here = dirname(fileURLToPath(import.meta.url));
const BATCH = 128;
/** Issue #18's targets on a 2-core machine. */
const TARGET_IMAGES_PER_SECOND = 400;
const TARGET_SPEEDUP = 20;

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}

interface Configuration {
  decoder: JpegDecoderName;
  workers: number;
  reuseInputBuffers: boolean;
}

/** CPU ms per image by thread: main, the loader's worker threads, libuv's pool with V8's helpers, libvips. */
interface ThreadSplit {
  main: number;
  workerThreads: number;
  libuvPoolAndV8: number;
  libvips: number;
}

interface Measurement extends Configuration {
  images: number;
  seconds: number;
  imagesPerSecond: number;
  cpuMsPerImage: number;
  threads?: ThreadSplit;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/**
 * Images/s and CPU per image over `batches` batches (a multiple of the workers), in the steady
 * state. Workers take batches in turn and answer them in order, so batches arrive in groups of one
 * per worker: the clock starts when the second group has arrived (the first warms the compiled
 * code) and stops when a later group has, with every worker busy in between.
 */
async function measure(dataset: Dataset, { decoder, workers, reuseInputBuffers }: Configuration, batches: number, epoch: number): Promise<Measurement> {
  const existing = new Set(threadCpu().keys());
  const loader = createLoader(dataset, { batchSize: BATCH, seed: 1, workers, decoder, dropLast: true, reuseInputBuffers });
  try {
    const iterator = loader.batches(epoch);
    for (let i = 0; i < 2 * Math.max(workers, 1); i++) {
      const warm = await iterator.next();
      if (!warm.done) tf.dispose([warm.value.inputs, warm.value.labels]);
    }
    const threadsBefore = threadCpu();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let images = 0;
    for (let i = 0; i < batches; i++) {
      const next = await iterator.next();
      if (next.done) break;
      images += next.value.labels.shape[0]!;
      tf.dispose([next.value.inputs, next.value.labels]);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const threadsAfter = threadCpu();
    await iterator.return?.(undefined);
    let threads: ThreadSplit | undefined;
    if (threadsAfter.size > 0) {
      threads = { main: 0, workerThreads: 0, libuvPoolAndV8: 0, libvips: 0 };
      for (const [id, { name, ms }] of threadsAfter) {
        const used = ms - (threadsBefore.get(id)?.ms ?? 0);
        // The libuv pool was started before any loader, so threads new since then are the loader's workers.
        const group: keyof ThreadSplit = id === process.pid ? 'main' : name.startsWith('libvips') ? 'libvips' : existing.has(id) ? 'libuvPoolAndV8' : 'workerThreads';
        threads[group] += used / images;
      }
      for (const group of Object.keys(threads) as (keyof ThreadSplit)[]) threads[group] = round3(threads[group]);
    }
    const cpuMsPerImage = round3((cpu.user + cpu.system) / 1000 / images);
    return { decoder, workers, reuseInputBuffers, images, seconds: round3(seconds), imagesPerSecond: Math.round((images / seconds) * 10) / 10, cpuMsPerImage, threads };
  } finally {
    await loader.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function folderStats(root: string): { files: number; meanKiB: number } {
  let files = 0;
  let bytes = 0;
  const train = join(root, 'imagenet', 'train');
  for (const wnid of readdirSync(train)) {
    if (wnid.startsWith('.')) continue;
    for (const file of readdirSync(join(train, wnid))) {
      files++;
      bytes += statSync(join(train, wnid, file)).size;
    }
  }
  return { files, meanKiB: Math.round(bytes / files / 102.4) / 10 };
}

const label = ({ decoder, workers, reuseInputBuffers }: Configuration) => `${decoder}${reuseInputBuffers ? ' reuse' : ''} workers ${workers}`;
const formatLoad = (load: number[]) => load.map((value) => value.toFixed(2)).join(' ');

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const images = Number(option('images', '2000'));
  const rounds = Number(option('rounds', '3'));
  const sharpBatches = Number(option('batches', '8'));
  const cache = resolve(option('cache', join(tmpdir(), 'mlaan-imagenet-like')));
  const output = resolve(option('out', join(here, 'results', 'jpeg-pipeline.json')));
  const loadBefore = loadavg();
  // Start libuv's thread pool now, so that threads appearing later are the loaders' workers.
  await readFile(fileURLToPath(import.meta.url));

  const classes = 20;
  const started = performance.now();
  // --data-dir: a folder of real JPEGs (<dir>/imagenet/train/<class>/*.JPEG), read as it is.
  const given = process.argv.includes('--data-dir') ? resolve(option('data-dir', '.')) : undefined;
  // sharp encodes 20 times faster than jpeg-js; the pixels are the same either way.
  const dataDir = given ?? (await writeImageNetLikeFolder({ root: cache, classes, perClass: Math.ceil(images / classes), encoder: 'sharp' }));
  console.log(`ImageNet folder ${dataDir}: ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const stats = folderStats(dataDir);
  const dataset = (await loadDataset({ name: 'imagenet', dataDir })) as ImageFolderDataset;
  console.log(`${dataset.count} JPEGs, mean ${stats.meanKiB} KiB; ${availableParallelism()} cores, load average ${formatLoad(loadBefore)}`);

  const stages = await jpegStages(dataset.files);
  console.log(`stages, one image at a time (CPU ms per image; ${(stages.enlargingShare * 100).toFixed(0)} % of the crops enlarge):`);
  for (const { stage, cpuMsPerImage, images: count } of stages.stages) console.log(`  ${cpuMsPerImage.toFixed(2).padStart(6)}  ${stage} (${count} images)`);

  // jpeg-js is about 4 times slower per image: fewer batches (two per worker) keep its rounds about as long.
  const batchesFor = ({ decoder, workers }: Configuration) => (decoder === 'sharp' ? Math.ceil(sharpBatches / workers) * workers : 2 * workers);
  const configurations: Configuration[] = [1, 2].flatMap((workers) => [
    { decoder: 'jpeg-js' as const, workers, reuseInputBuffers: false },
    { decoder: 'sharp' as const, workers, reuseInputBuffers: false },
    { decoder: 'sharp' as const, workers, reuseInputBuffers: true },
  ]);
  const runs: Measurement[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const configuration of configurations) {
      // A different epoch each round: other crops, other files, no help from a warm decoder cache.
      const run = await measure(dataset, configuration, batchesFor(configuration), round);
      runs.push(run);
      const split = run.threads ? ` (main ${run.threads.main}, workers ${run.threads.workerThreads}, libuv+V8 ${run.threads.libuvPoolAndV8}, libvips ${run.threads.libvips})` : '';
      console.log(`round ${round + 1}: ${label(configuration).padEnd(22)} ${run.imagesPerSecond.toFixed(1).padStart(6)} images/s, ${run.cpuMsPerImage.toFixed(2)} CPU ms/image${split}`);
    }
  }
  const summary = configurations.map((configuration) => {
    const mine = runs.filter((run) => label(run) === label(configuration));
    const splits = mine.flatMap((run) => (run.threads ? [run.threads] : []));
    const threads = splits.length > 0 ? (Object.fromEntries((['main', 'workerThreads', 'libuvPoolAndV8', 'libvips'] as const).map((group) => [group, median(splits.map((split) => split[group]))])) as unknown as ThreadSplit) : undefined;
    const cpuMsPerImage = median(mine.map((run) => run.cpuMsPerImage));
    return {
      ...configuration,
      imagesPerSecond: median(mine.map((run) => run.imagesPerSecond)),
      cpuMsPerImage,
      // The rate if the loader had every core to itself and scaled perfectly: comparable under load.
      cpuBoundImagesPerSecond: Math.round((availableParallelism() * 1000) / cpuMsPerImage),
      threads,
      rounds: mine.map((run) => run.imagesPerSecond),
    };
  });
  const row = (decoder: JpegDecoderName, workers: number, reuseInputBuffers = false) => summary.find((entry) => label(entry) === label({ decoder, workers, reuseInputBuffers }))!;
  const speedups = [1, 2].map((workers) => {
    const sharp = [row('sharp', workers), row('sharp', workers, true)].sort((a, b) => b.imagesPerSecond - a.imagesPerSecond)[0]!;
    const jpegJs = row('jpeg-js', workers);
    return {
      workers,
      sharpReuseInputBuffers: sharp.reuseInputBuffers,
      imagesPerSecond: Math.round((sharp.imagesPerSecond / jpegJs.imagesPerSecond) * 10) / 10,
      cpuPerImage: Math.round((jpegJs.cpuMsPerImage / sharp.cpuMsPerImage) * 10) / 10,
    };
  });
  const best = Math.max(...summary.filter((entry) => entry.decoder === 'sharp').map((entry) => entry.imagesPerSecond));
  const loadAfter = loadavg();
  for (const entry of summary) {
    console.log(`${label(entry).padEnd(22)} ${String(entry.imagesPerSecond).padStart(6)} images/s, ${entry.cpuMsPerImage.toFixed(2)} CPU ms/image (≤ ${entry.cpuBoundImagesPerSecond} images/s on ${availableParallelism()} idle cores); rounds ${entry.rounds.join(', ')}`);
  }
  for (const speedup of speedups) console.log(`sharp / jpeg-js at ${speedup.workers} worker(s): ${speedup.imagesPerSecond}× images/s, ${speedup.cpuPerImage}× less CPU per image`);
  console.log(
    `targets: ≥ ${TARGET_IMAGES_PER_SECOND} images/s (${best >= TARGET_IMAGES_PER_SECOND ? 'met' : 'not met'}: ${best}), ` +
      `≥ ${TARGET_SPEEDUP}× jpeg-js (${Math.min(...speedups.map((s) => s.imagesPerSecond)) >= TARGET_SPEEDUP ? 'met' : 'not met'}); load average after ${formatLoad(loadAfter)}`,
  );

  writeResults(output, {
    benchmark: 'jpeg-pipeline',
    command: `npx tsx benchmarks/jpeg-pipeline.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: describeMachine({ availableParallelism: availableParallelism(), loadAverageBefore: loadBefore, loadAverageAfter: loadAfter }),
    images: given
      ? { count: dataset.count, meanKiB: stats.meanKiB, source: 'a folder given with --data-dir' }
      : { count: dataset.count, size: '500×375', meanKiB: stats.meanKiB, quality: 90, generator: '@mlaan/data/testing writeImageNetLikeFolder, seed 0, sharp encoder' },
    batchSize: BATCH,
    transform: datasetSpecs.imagenet.train,
    output: 'NHWC float32 tensors, normalised',
    targets: { imagesPerSecond: TARGET_IMAGES_PER_SECOND, speedupOverJpegJs: TARGET_SPEEDUP },
    stages,
    summary,
    speedups,
    runs,
  });
}

await main();
