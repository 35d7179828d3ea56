/**
 * Input-pipeline benchmark: batches/s for CIFAR-10 train at batch 128 with the METHOD §6
 * augmentation, on this thread and with worker threads, and how much of a training step's time
 * the pipeline steals from the main thread when batch preparation overlaps a (simulated) step.
 * A second case decodes JPEGs (ImageNet-style random resized crops), where workers matter most.
 *
 *   MLAAN_DATA_DIR=../shared/datasets npx tsx benchmarks/data-pipeline.ts
 *
 * Writes benchmarks/results/data-pipeline.json with a description of the machine.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { encode } from 'jpeg-js';
import { createLoader, type Dataset, loadDataset } from '@mlaan/data';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = process.env.MLAAN_DATA_DIR ?? resolve(here, '../../shared/datasets');
const BATCH = 128;

function busyWait(milliseconds: number): void {
  const end = performance.now() + milliseconds;
  while (performance.now() < end);
}

interface Run {
  workers: number;
  stepMs: number;
  batches: number;
  batchesPerSecond: number;
  /** Wall time per batch beyond the simulated step: what the pipeline costs the training thread. */
  stallMsPerBatch: number;
}

/** The median of `repeats` runs: the machine may be shared, so single runs are noisy. */
async function measureMedian(dataset: Dataset, workers: number, stepMs: number, batches: number, batchSize: number, repeats = 3): Promise<Run & { repeats: number[] }> {
  const runs: Run[] = [];
  for (let i = 0; i < repeats; i++) runs.push(await measure(dataset, workers, stepMs, batches, batchSize));
  const sorted = [...runs].sort((a, b) => a.batchesPerSecond - b.batchesPerSecond);
  return { ...sorted[Math.floor(repeats / 2)]!, repeats: runs.map((run) => run.batchesPerSecond) };
}

async function measure(dataset: Dataset, workers: number, stepMs: number, batches: number, batchSize: number): Promise<Run> {
  const loader = createLoader(dataset, { batchSize, seed: 1, workers });
  // Warm-up: start the workers and fill the prefetch queue once.
  for await (const batch of loader.batches(99)) {
    tf.dispose([batch.inputs, batch.labels]);
    break;
  }
  const started = performance.now();
  let count = 0;
  for (let epoch = 0; count < batches; epoch++) {
    for await (const batch of loader.batches(epoch)) {
      busyWait(stepMs);
      tf.dispose([batch.inputs, batch.labels]);
      if (++count >= batches) break;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  await loader.close();
  return { workers, stepMs, batches: count, batchesPerSecond: count / seconds, stallMsPerBatch: (seconds * 1000) / count - stepMs };
}

function syntheticJpegFolder(root: string, classes: number, perClass: number): void {
  for (let c = 0; c < classes; c++) {
    const folder = join(root, 'imagenet', 'train', `n${String(c).padStart(8, '0')}`);
    mkdirSync(folder, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const [width, height] = [500, 375];
      const data = Buffer.alloc(width * height * 4);
      for (let p = 0; p < width * height; p++) data.set([(p * 7 + c * 40) % 256, (p * 13 + i) % 256, ((p >> 9) * 5) % 256, 255], p * 4);
      writeFileSync(join(folder, `${i}.JPEG`), encode({ data, width, height }, 90).data);
    }
  }
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const spare = Math.max(availableParallelism() - 1, 0);
  const workerCounts = [0, ...[1, 2, 4].filter((count) => count <= Math.max(spare, 1))];

  let started = performance.now();
  const cifar = await loadDataset({ name: 'cifar10', split: 'train', dataDir });
  const loadSeconds = (performance.now() - started) / 1000;
  console.log(`CIFAR-10 train: ${cifar.count} images loaded in ${loadSeconds.toFixed(2)} s`);

  const cifarRuns: Run[] = [];
  for (const stepMs of [0, 20]) {
    for (const workers of workerCounts) {
      const run = await measureMedian(cifar, workers, stepMs, stepMs === 0 ? 300 : 60, BATCH);
      cifarRuns.push(run);
      console.log(
        `cifar10 batch ${BATCH}, workers ${workers}, simulated step ${stepMs} ms: ${run.batchesPerSecond.toFixed(1)} batches/s, ` +
          `pipeline cost on the training thread ${run.stallMsPerBatch.toFixed(2)} ms/batch`,
      );
    }
  }

  const root = mkdtempSync(join(tmpdir(), 'mlaan-bench-'));
  const jpegRuns: Run[] = [];
  try {
    syntheticJpegFolder(root, 4, 8);
    started = performance.now();
    const imagenet = await loadDataset({ name: 'imagenet', dataDir: root });
    console.log(`synthetic ImageNet: ${imagenet.count} JPEGs of 500×375 listed in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    for (const workers of workerCounts) {
      const run = await measureMedian(imagenet, workers, 0, 4, 16, 1);
      jpegRuns.push(run);
      console.log(`imagenet-style batch 16 (decode + random resized crop 224), workers ${workers}: ${run.batchesPerSecond.toFixed(2)} batches/s`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  const result = {
    benchmark: 'data-pipeline',
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      availableParallelism: availableParallelism(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      tfjsBackend: tf.getBackend(),
      /** Load average (1, 5, 15 min) when the run ended: above the core count, other work shared the CPUs. */
      loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
    },
    cifar10: { split: 'train', batchSize: BATCH, augmentation: 'reflect-pad 4 + random crop 32 + flip', loadSeconds, runs: cifarRuns },
    imagenetStyle: { images: '500×375 JPEG', batchSize: 16, transform: 'decode + random resized crop 224 + flip', runs: jpegRuns },
  };
  const output = join(here, 'results', 'data-pipeline.json');
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${output}`);
}

await main();
