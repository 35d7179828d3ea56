/**
 * A/B of the whole training step between two checkouts of this repository (issue 24: "an idle A/B
 * shows no slower step"; issue 25: the non-finite check costs < 2 % of the ResNet-32 E2E step):
 * each measurement is its own process, in the checkout under test, alternating A B A B ... so
 * that drift in the machine's speed falls on both; per pair, the ratio of the mean step times.
 *
 *   npx tsx benchmarks/step-ab.ts --a <checkout A> --b <checkout B> [--configurations e2e,dgl-k4,infopro+mlaan-k8]
 *     [--pairs 6] [--steps 8] [--warmup 3] [--batch 128] [--backend onednn] [--out benchmarks/results/step-ab.json]
 *
 * A step is timed to the moment its losses are on the host: a checkout whose `step` returns numbers
 * (it read them itself), or one whose `step` returns a result, read at once. The same model, batch
 * and seed on both sides. Writes the per-pair ratios, their median, the load before and after, and
 * both checkouts' commits.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine, writeResults } from './lib/results.js';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    configurations: { type: 'string', default: 'e2e,dgl-k4,infopro+mlaan-k8' },
    pairs: { type: 'string', default: '6' },
    steps: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    batch: { type: 'string', default: '128' },
    backend: { type: 'string', default: 'onednn' },
    out: { type: 'string', default: join(import.meta.dirname, 'results', 'step-ab.json') },
  },
});
if (!values.a || !values.b) throw new Error('Give both checkouts: --a <path> --b <path>.');

// The timer runs inside each checkout, so that it imports that checkout's packages.
const TIMER = `
import * as tf from '@tensorflow/tfjs-core';
import { getSplit, LocalTrainer, selectBackend } from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { dgl } from '@mlaan/dgl';
import { infoPro, MLAAN_LAMBDA } from '@mlaan/infopro';
import { withMLAAN } from '@mlaan/mlaan';
const [configuration, steps, warmup, batchSize, backend] = process.argv.slice(2);
await selectBackend(backend, { log: () => {} });
const plugins = {
  e2e: () => ({ cuts: [], plugins: [] }),
  'dgl-k4': () => ({ cuts: getSplit({ net: 'resnet32', K: 4 }), plugins: [dgl()] }),
  'infopro+mlaan-k8': () => ({ cuts: getSplit({ net: 'resnet32', K: 8 }), plugins: [infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' }), ...withMLAAN()] }),
}[configuration]();
const trainer = new LocalTrainer({ backbone: resnet32({ seed: 0 }), ...plugins, optimizer: { learningRate: 0.01 }, seed: 0 });
const n = Number(batchSize);
const batch = {
  inputs: tf.randomNormal([n, 32, 32, 3], 0, 1, 'float32', 1),
  labels: tf.tensor1d(Array.from({ length: n }, (_, i) => i % 10), 'int32'),
  normalization: { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] },
};
async function step() {
  const result = trainer.step(batch);
  if (result && typeof result.read === 'function') await result.read();
}
for (let i = 0; i < Number(warmup); i++) await step();
const times = [];
for (let i = 0; i < Number(steps); i++) {
  const started = performance.now();
  await step();
  times.push(performance.now() - started);
}
console.log(JSON.stringify({ times }));
`;

const checkouts = { A: resolve(values.a), B: resolve(values.b) };
for (const dir of Object.values(checkouts)) {
  mkdirSync(join(dir, 'benchmarks', 'tmp'), { recursive: true });
  writeFileSync(join(dir, 'benchmarks', 'tmp', 'step-timer.ts'), TIMER);
}
const commit = (dir: string) => execFileSync('git', ['-C', dir, 'log', '-1', '--format=%H %s'], { encoding: 'utf8' }).trim();

function measure(side: 'A' | 'B', configuration: string): number[] {
  const dir = checkouts[side];
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(dir, 'benchmarks', 'tmp', 'step-timer.ts'), configuration, values.steps!, values.warmup!, values.batch!, values.backend!],
    { cwd: dir, encoding: 'utf8', maxBuffer: 16 * 2 ** 20 },
  );
  const line = child.stdout.trim().split('\n').pop() ?? '';
  try {
    return (JSON.parse(line) as { times: number[] }).times;
  } catch {
    throw new Error(`${side} ${configuration} failed (exit ${child.status}):\n${child.stderr}`);
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const loadBefore = (await import('node:os')).loadavg();
const rows = [];
for (const configuration of values.configurations!.split(',')) {
  const pairs: { a: number; b: number; ratio: number }[] = [];
  for (let p = 0; p < Number(values.pairs); p++) {
    // Alternate which side goes first, so a trend within a pair falls on both.
    const order: ('A' | 'B')[] = p % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    const times: Record<string, number> = {};
    for (const side of order) times[side] = mean(measure(side, configuration));
    pairs.push({ a: times.A!, b: times.B!, ratio: times.A! / times.B! });
    console.error(`${configuration} pair ${p + 1}: A ${times.A!.toFixed(1)} ms, B ${times.B!.toFixed(1)} ms, A/B ${(times.A! / times.B!).toFixed(3)}`);
  }
  const ratios = pairs.map((pair) => pair.ratio);
  rows.push({ configuration, pairs, medianRatio: median(ratios), minRatio: Math.min(...ratios), maxRatio: Math.max(...ratios) });
  console.log(`${configuration}: step time A/B median ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}) over ${pairs.length} pairs`);
}
writeResults(values.out!, {
  command: `npx tsx benchmarks/step-ab.ts ${process.argv.slice(2).join(' ')}`,
  machine: describeMachine(),
  checkouts: { A: commit(checkouts.A), B: commit(checkouts.B) },
  batch: Number(values.batch),
  steps: Number(values.steps),
  warmup: Number(values.warmup),
  backend: values.backend,
  loadBefore,
  loadAfter: (await import('node:os')).loadavg(),
  rows,
});
