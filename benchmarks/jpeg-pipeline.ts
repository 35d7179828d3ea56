/**
 * JPEG input pipeline benchmark (issue #18): training images per second delivered as NHWC float32
 * tensors at batch 128 (ImageNet's random resized crop 224 + flip, normalised), from a folder of
 * ImageNet-like JPEGs, for the jpeg-js and the native (sharp) decoder at 1 and 2 worker threads.
 * Nothing trains: this is the rate at which the loader could feed an accelerator.
 *
 *   npx turbo run build --filter=@mlaan/data...
 *   npx tsx benchmarks/jpeg-pipeline.ts [--images 2000] [--rounds 2] [--cache <dir>] [--out <file>]
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
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createLoader, datasetSpecs, type Dataset, type JpegDecoderName, loadDataset } from '@mlaan/data';
import { writeImageNetLikeFolder } from '@mlaan/data/testing';
import { describeMachine, writeResults } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const BATCH = 128;
/** Issue #18's targets on a 2-core machine. */
const TARGET_IMAGES_PER_SECOND = 400;
const TARGET_SPEEDUP = 20;

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}

interface Measurement {
  decoder: JpegDecoderName;
  workers: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

/** Images/s over `batches` batches after one warm-up batch (workers started, prefetch filled). */
async function measure(dataset: Dataset, decoder: JpegDecoderName, workers: number, batches: number, epoch: number): Promise<Measurement> {
  const loader = createLoader(dataset, { batchSize: BATCH, seed: 1, workers, decoder, dropLast: true });
  try {
    const iterator = loader.batches(epoch);
    const warm = await iterator.next();
    if (!warm.done) tf.dispose([warm.value.inputs, warm.value.labels]);
    const started = performance.now();
    let images = 0;
    for (let i = 0; i < batches; i++) {
      const next = await iterator.next();
      if (next.done) break;
      images += next.value.labels.shape[0]!;
      tf.dispose([next.value.inputs, next.value.labels]);
    }
    await iterator.return?.(undefined);
    const seconds = (performance.now() - started) / 1000;
    return { decoder, workers, images, seconds, imagesPerSecond: images / seconds };
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

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const images = Number(option('images', '2000'));
  const rounds = Number(option('rounds', '2'));
  const cache = resolve(option('cache', join(tmpdir(), 'mlaan-imagenet-like')));
  const output = resolve(option('out', join(here, 'results', 'jpeg-pipeline.json')));
  const loadBefore = loadavg();

  const classes = 20;
  const started = performance.now();
  // --data-dir: a folder of real JPEGs (<dir>/imagenet/train/<class>/*.JPEG), read as it is.
  const given = process.argv.includes('--data-dir') ? resolve(option('data-dir', '.')) : undefined;
  // sharp encodes 20 times faster than jpeg-js; the pixels are the same either way.
  const dataDir = given ?? (await writeImageNetLikeFolder({ root: cache, classes, perClass: Math.ceil(images / classes), encoder: 'sharp' }));
  console.log(`ImageNet folder ${dataDir}: ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const stats = folderStats(dataDir);
  const dataset = await loadDataset({ name: 'imagenet', dataDir });
  console.log(`${dataset.count} JPEGs, mean ${stats.meanKiB} KiB; ${availableParallelism()} cores, load average ${loadBefore.map((v) => v.toFixed(2)).join(' ')}`);

  // jpeg-js is about 20 times slower: fewer batches keep its rounds about as long.
  const batchesFor = (decoder: JpegDecoderName) => (decoder === 'sharp' ? 8 : 2);
  const configurations = [1, 2].flatMap((workers) => (['jpeg-js', 'sharp'] as const).map((decoder) => ({ decoder, workers })));
  const runs: Measurement[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const { decoder, workers } of configurations) {
      // A different epoch each round: other crops, other files, no help from a warm decoder cache.
      const run = await measure(dataset, decoder, workers, batchesFor(decoder), round);
      runs.push(run);
      console.log(`round ${round + 1}: ${decoder.padEnd(7)} workers ${workers}: ${run.imagesPerSecond.toFixed(1)} images/s (${run.images} in ${run.seconds.toFixed(1)} s)`);
    }
  }
  const summary = configurations.map(({ decoder, workers }) => {
    const mine = runs.filter((run) => run.decoder === decoder && run.workers === workers).map((run) => run.imagesPerSecond);
    return { decoder, workers, imagesPerSecond: Math.round(median(mine) * 10) / 10, rounds: mine.map((value) => Math.round(value * 10) / 10) };
  });
  const rate = (decoder: JpegDecoderName, workers: number) => summary.find((row) => row.decoder === decoder && row.workers === workers)!.imagesPerSecond;
  const speedups = [1, 2].map((workers) => ({ workers, sharpOverJpegJs: Math.round((rate('sharp', workers) / rate('jpeg-js', workers)) * 10) / 10 }));
  const best = Math.max(rate('sharp', 1), rate('sharp', 2));
  const loadAfter = loadavg();
  for (const row of summary) console.log(`${row.decoder.padEnd(7)} workers ${row.workers}: ${row.imagesPerSecond} images/s (median of ${row.rounds.join(', ')})`);
  for (const { workers, sharpOverJpegJs } of speedups) console.log(`sharp / jpeg-js at ${workers} worker(s): ${sharpOverJpegJs}×`);
  console.log(
    `targets: ≥ ${TARGET_IMAGES_PER_SECOND} images/s (${best >= TARGET_IMAGES_PER_SECOND ? 'met' : 'not met'}: ${best}), ` +
      `≥ ${TARGET_SPEEDUP}× jpeg-js (${Math.min(...speedups.map((s) => s.sharpOverJpegJs)) >= TARGET_SPEEDUP ? 'met' : 'not met'}); load average after ${loadAfter.map((v) => v.toFixed(2)).join(' ')}`,
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
    summary,
    speedups,
    runs,
  });
}

await main();
