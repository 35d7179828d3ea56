/**
 * Module-parallel training (issue 17): images/s of the pipelined trainer with 2 workers (oneDNN,
 * 1 thread each) against the sequential trainer on the same machine (oneDNN with 2 threads, and
 * with 1), in one run, alternating the three in rotating order each round; ResNet-32 at K = 4 and 8
 * with DGL, InfoPro, InfoPro + MLM and InfoPro + MLAAN (MLM's cascades cross the worker boundary:
 * the exact exchange of cotangents serialises the two workers on those modules; LAM's twins get the
 * later blocks' weights after every step). Also records each worker's busy, waiting and transfer
 * time, the measured per-module costs and transfer sizes, and from those a projection of the
 * scaling to W devices (and where it stops: the slowest module, the transfers).
 *
 *   npx tsx benchmarks/module-parallel.ts [--steps 20] [--batch 64] [--ks 4,8]
 *     [--methods dgl,infopro,infopro+mlm,infopro+mlaan] [--rounds 2] [--backend onednn]
 *
 * Each measurement runs in its own process (OMP_NUM_THREADS set per variant), on one random batch
 * (the step cost does not depend on pixel values), after two warm-up steps. Writes
 * benchmarks/results/module-parallel.json with the command and the load average.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type Batch,
  LocalTrainer,
  float32Bytes,
  measureMemory,
  measureModuleCosts,
  type ModuleCosts,
  PipelinedTrainer,
  type PipelineWorkerMeters,
  placeByCost,
  selectBackend,
  type StageMeters,
} from '@mlaan/core';
import { describeMachine, writeResults } from './lib/results.js';
import resnet32Recipe, { type Method } from './lib/resnet32-recipe.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    batch: { type: 'string', default: '64' },
    ks: { type: 'string', default: '4,8' },
    methods: { type: 'string', default: 'dgl,infopro,infopro+mlm,infopro+mlaan' },
    rounds: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'onednn' },
    child: { type: 'string' },
    out: { type: 'string', default: join(here, 'results', 'module-parallel.json') },
  },
});

type Variant = 'sequential-2-threads' | 'sequential-1-thread' | 'pipelined-2-workers' | 'pipelined-2-workers-delayed';
const VARIANTS: Variant[] = ['sequential-2-threads', 'sequential-1-thread', 'pipelined-2-workers'];
const THREADS: Record<Variant, number> = { 'sequential-2-threads': 2, 'sequential-1-thread': 1, 'pipelined-2-workers': 1, 'pipelined-2-workers-delayed': 1 };
/** The variants measured for a method: the delayed exchange only where cascades cross workers (MLM). */
const variantsOf = (method: Method): Variant[] => (method.includes('+') ? [...VARIANTS, 'pipelined-2-workers-delayed'] : VARIANTS);

interface Job {
  variant: Variant;
  method: Method;
  K: number;
  steps: number;
  batch: number;
  backend: string;
}

interface Measurement {
  imagesPerSecond: number;
  /** Process CPU seconds (every thread) per image. */
  cpuMsPerImage: number;
  wallSeconds: number;
  loadAverage: [number, number, number];
  moduleCosts?: ModuleCosts;
  placement?: [number, number][];
  /** Per worker, over the timed steps only. */
  workers?: (PipelineWorkerMeters & { busyShare: number; waitingShare: number; transferShare: number })[];
  /**
   * Step memory as the bench measures it (state: variables and momentum; plus the most distinct
   * buffers the step allocates on top): the whole step (sequential), or each worker's own step.
   */
  stepMemory?: { stepPeakBytes: number; stateBytes: number; stepAllocationBytes: number; schedule?: string }[];
  unsupported?: string;
}

function randomBatch(size: number): Batch {
  return {
    inputs: tf.randomNormal([size, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D,
    labels: tf.tensor1d(Array.from({ length: size }, (_, i) => i % 10), 'int32'),
    normalization: { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] },
  };
}

const clone = (b: Batch): Batch => ({ ...b, inputs: b.inputs.clone(), labels: b.labels.clone() });

const minus = (after: StageMeters, before: StageMeters | undefined) => ({
  busyMs: after.busyMs - (before?.busyMs ?? 0),
  waitingInputMs: after.waitingInputMs - (before?.waitingInputMs ?? 0),
  waitingOutputMs: after.waitingOutputMs - (before?.waitingOutputMs ?? 0),
  transferMs: after.transferMs - (before?.transferMs ?? 0),
  bytesSent: after.bytesSent - (before?.bytesSent ?? 0),
  steps: after.steps - (before?.steps ?? 0),
});

/** One measurement, in this (child) process. */
async function measure(job: Job): Promise<Measurement> {
  await selectBackend(job.backend, { log: () => {} });
  const batch = randomBatch(job.batch);
  const options = { method: job.method, K: job.K };
  const timed = async (run: () => Promise<void>) => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await run();
    const wallSeconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const images = job.steps * job.batch;
    return { imagesPerSecond: images / wallSeconds, cpuMsPerImage: (used.user + used.system) / 1000 / images, wallSeconds };
  };
  if (!job.variant.startsWith('pipelined')) {
    const trainer = new LocalTrainer(resnet32Recipe(options));
    const moduleCosts = job.variant === 'sequential-1-thread' ? await measureModuleCosts(trainer, batch) : undefined;
    for (let i = 0; i < 2; i++) trainer.step(batch).dispose();
    const speed = await timed(async () => {
      for (let i = 0; i < job.steps; i++) trainer.step(batch).dispose();
    });
    const stateBytes = float32Bytes([...trainer.namedParameters(), ...trainer.namedBuffers()].map(([, v]) => v)) + float32Bytes(trainer.optimizer.state().values());
    const { result, memory } = await measureMemory(() => trainer.step(batch));
    result.dispose();
    const stepMemory = [{ stateBytes, stepAllocationBytes: memory.peakBufferAllocationBytes, stepPeakBytes: stateBytes + memory.peakBufferAllocationBytes, schedule: trainer.schedule }];
    trainer.dispose();
    return { ...speed, loadAverage: loadavg() as [number, number, number], moduleCosts, stepMemory };
  }
  let pipelined: PipelinedTrainer;
  try {
    pipelined = await PipelinedTrainer.create({
      recipe: { module: pathToFileURL(join(here, 'lib', 'resnet32-recipe.ts')).href, options, backend: job.backend },
      workers: 2,
      probe: batch,
      exchange: job.variant === 'pipelined-2-workers-delayed' ? 'delayed' : 'exact',
      // Step 1 (after the warm-up: the momentum exists) and every step after: the largest is kept.
      memoryEvery: 1,
    });
  } catch (error) {
    return { imagesPerSecond: NaN, cpuMsPerImage: NaN, wallSeconds: 0, loadAverage: loadavg() as [number, number, number], unsupported: (error as Error).message };
  }
  try {
    for await (const _ of pipelined.train([clone(batch), clone(batch)]));
    const before = pipelined.meters();
    const speed = await timed(async () => {
      for await (const _ of pipelined.train(Array.from({ length: job.steps }, () => clone(batch))));
    });
    const wallMs = speed.wallSeconds * 1000;
    const workers = pipelined.meters().map((after, w) => {
      const delta = minus(after, before[w]);
      return {
        ...after,
        ...delta,
        busyShare: delta.busyMs / wallMs,
        waitingShare: (delta.waitingInputMs + delta.waitingOutputMs) / wallMs,
        transferShare: delta.transferMs / wallMs,
      };
    });
    const stepMemory = pipelined.meters().map(({ stepPeakBytes, stateBytes, stepAllocationBytes }) => ({ stepPeakBytes, stateBytes, stepAllocationBytes }));
    return { ...speed, loadAverage: loadavg() as [number, number, number], placement: pipelined.placement.ranges, moduleCosts: pipelined.moduleCosts, workers, stepMemory };
  } finally {
    await pipelined.close();
  }
}

if (values.child) {
  const result = await measure(JSON.parse(values.child) as Job);
  console.log(JSON.stringify(result));
  process.exit(0);
}

/** Runs one measurement in a fresh process with the variant's oneDNN thread count. */
function runChild(job: Job): Measurement {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', JSON.stringify(job)], {
    env: { ...process.env, OMP_NUM_THREADS: String(THREADS[job.variant]) },
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  const last = child.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Measurement;
  } catch {
    throw new Error(`measurement ${JSON.stringify(job)} failed (exit ${child.status}):\n${child.stderr}`);
  }
}

/**
 * Scaling to W devices from per-module costs (1 thread each) and transfer sizes: the modules
 * placed by cost on W workers, each stage's time its compute plus what it sends at `bytesPerMs`;
 * images/s is set by the slowest stage. It stops improving at the slowest single module.
 */
function project(costs: ModuleCosts, batch: number, bytesPerMs: number) {
  const K = costs.milliseconds.length;
  const scale = batch / costs.batchSize;
  const ms = costs.milliseconds.map((m) => m * scale);
  const imageBytes = 32 * 32 * 3 * 4 + 4;
  const rows: { W: number; imagesPerSecond: number; stages: { modules: number[]; computeMs: number; transferMs: number; sentBytes: number }[] }[] = [];
  for (let W = 1; W <= K; W++) {
    const { ranges, stageCosts } = placeByCost(ms, W);
    const stages = ranges.map(([first, end], w) => {
      const sent = end < K ? (costs.outputBytesPerImage[end - 1]! + imageBytes) * batch : 0;
      return { modules: [first, end], computeMs: stageCosts[w]!, transferMs: sent / bytesPerMs, sentBytes: sent };
    });
    const slowest = Math.max(...stages.map((s) => s.computeMs + s.transferMs));
    rows.push({ W, imagesPerSecond: (batch / slowest) * 1000, stages });
  }
  const total = ms.reduce((a, b) => a + b, 0);
  const heaviest = ms.indexOf(Math.max(...ms));
  return {
    perModuleMs: ms,
    outputBytesPerImage: costs.outputBytesPerImage,
    bytesPerMs,
    byWorkers: rows.map((r) => ({ ...r, speedupOverOneWorker: r.imagesPerSecond / rows[0]!.imagesPerSecond })),
    assumes: 'stages overlap fully (DGL, InfoPro); MLM windows across a boundary in exact mode make the two workers take turns on those modules, so for MLM/MLAAN this is an upper bound',
    limit: `the slowest module, ${heaviest} (${ms[heaviest]!.toFixed(0)} ms of ${total.toFixed(0)} ms per batch of ${batch}), caps the speed-up at ${(total / ms[heaviest]!).toFixed(2)}x however many devices`,
  };
}

const steps = Number(values.steps);
const batch = Number(values.batch);
const rounds = Number(values.rounds);
const ks = values.ks!.split(',').map(Number);
const methods = values.methods!.split(',') as Method[];
const loadBefore = loadavg();
const runs: Record<string, Measurement[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const method of methods) {
    for (const K of ks) {
      // A/B/C in rotating order, so drift in the machine's load falls on each variant alike.
      const variants = variantsOf(method);
      const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
      for (const variant of order) {
        const key = `${method} K=${K} ${variant}`;
        const m = runChild({ variant, method, K, steps, batch, backend: values.backend! });
        (runs[key] ??= []).push(m);
        console.error(`round ${round + 1}/${rounds} ${key}: ${m.unsupported ? `unsupported (${m.unsupported.split(';')[0]})` : `${m.imagesPerSecond.toFixed(1)} images/s, ${m.cpuMsPerImage.toFixed(1)} CPU ms/image, load ${m.loadAverage[0].toFixed(2)}`}`);
      }
    }
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows: Record<string, unknown>[] = [];
for (const method of methods) {
  for (const K of ks) {
    const of = (variant: Variant) => runs[`${method} K=${K} ${variant}`]!;
    const speed = (variant: Variant) => mean(of(variant).map((m) => m.imagesPerSecond));
    const pipelined = of('pipelined-2-workers');
    const fastestSequential = Math.max(speed('sequential-2-threads'), speed('sequential-1-thread'));
    const costs = of('sequential-1-thread')[0]!.moduleCosts!;
    const transfer = pipelined[0]?.workers?.[0];
    const bytesPerMs = transfer && transfer.transferMs > 0 ? transfer.bytesSent / transfer.transferMs : Infinity;
    rows.push({
      method,
      K,
      imagesPerSecond: Object.fromEntries(variantsOf(method).map((v) => [v, of(v).map((m) => m.imagesPerSecond)])),
      cpuMsPerImage: Object.fromEntries(variantsOf(method).map((v) => [v, of(v).map((m) => m.cpuMsPerImage)])),
      pipelinedOverFastestSequential: pipelined[0]?.unsupported ? null : speed('pipelined-2-workers') / fastestSequential,
      delayedOverFastestSequential:
        variantsOf(method).includes('pipelined-2-workers-delayed') && !of('pipelined-2-workers-delayed')[0]?.unsupported
          ? speed('pipelined-2-workers-delayed') / fastestSequential
          : null,
      delayedWorkers: variantsOf(method).includes('pipelined-2-workers-delayed') ? of('pipelined-2-workers-delayed').map((m) => m.workers ?? null) : null,
      unsupported: pipelined[0]?.unsupported ?? null,
      placement: pipelined[0]?.placement ?? null,
      workers: pipelined.map((m) => m.workers ?? null),
      stepMemory: {
        sequential: of('sequential-2-threads')[0]?.stepMemory?.[0] ?? null,
        pipelinedWorkers: pipelined[0]?.stepMemory ?? null,
        // The exact exchange must hold no more per worker than the whole sequential step under the same `activations`.
        largestWorkerOverSequential:
          pipelined[0]?.stepMemory && of('sequential-2-threads')[0]?.stepMemory
            ? Math.max(...pipelined[0].stepMemory.map((w) => w.stepPeakBytes)) / of('sequential-2-threads')[0]!.stepMemory![0]!.stepPeakBytes
            : null,
      },
      projection: project(costs, batch, bytesPerMs),
    });
  }
}
for (const row of rows as {
  method: string;
  K: number;
  pipelinedOverFastestSequential: number | null;
  delayedOverFastestSequential: number | null;
  unsupported: string | null;
  projection: { limit: string };
  stepMemory: { largestWorkerOverSequential: number | null; sequential: { stepPeakBytes: number } | null; pipelinedWorkers: { stepPeakBytes: number }[] | null };
}[]) {
  const ratio = row.pipelinedOverFastestSequential;
  const delayed = row.delayedOverFastestSequential === null ? '' : `, delayed exchange ${row.delayedOverFastestSequential.toFixed(2)}`;
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const memory = row.stepMemory.largestWorkerOverSequential === null
    ? ''
    : `; step memory per worker ${row.stepMemory.pipelinedWorkers!.map((w) => mib(w.stepPeakBytes)).join(' / ')} vs sequential ${mib(row.stepMemory.sequential!.stepPeakBytes)} (${row.stepMemory.largestWorkerOverSequential.toFixed(2)}x)`;
  console.log(`${row.method} K=${row.K}: pipelined/fastest sequential ${ratio === null ? `n/a (${row.unsupported!.split(';')[0]})` : ratio.toFixed(2)}${delayed}${memory}; ${row.projection.limit}`);
}
writeResults(values.out!, {
  command: `npx tsx benchmarks/module-parallel.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: describeMachine({ backend: values.backend, loadAverageBefore: loadBefore, loadAverageAfter: loadavg() }),
  steps,
  batch,
  rounds,
  rows,
});
