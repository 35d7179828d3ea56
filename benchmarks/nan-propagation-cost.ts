/**
 * What keeping NaN costs the onednn backend (issue 25): the ResNet-32 end-to-end training step
 * with this checkout's @mlaan/backend-onednn (B) against another copy of the package (A, e.g.
 * main's before the change, with its own built addon), everything else the same.
 *
 *   mkdir -p /tmp/ab && git archive <commit> packages/backend-onednn | tar -x -C /tmp/ab --strip-components=1
 *   ln -sfn "$PWD/node_modules" /tmp/ab/node_modules     # A resolves tfjs and @mlaan/core from here
 *   (cd /tmp/ab/backend-onednn && node scripts/build-addon.mjs --strict)
 *   npx tsx benchmarks/nan-propagation-cost.ts --a /tmp/ab/backend-onednn [--rounds 5] [--steps 6] [--batch 128]
 *
 * Each measurement is its own process (one addon per process), A and B alternating round by
 * round so that load falls on both alike; each process warms up, then times `--steps` steps and
 * reports their median. `--clock cpu` (the default, with one thread) times the process's CPU
 * time, which other processes on a busy machine disturb far less than the wall clock; `--clock
 * wall --threads 2` is the step as a user sees it on an idle machine. Prints the per-round medians and B/A, and writes
 * benchmarks/results/nan-propagation-cost.json with the command and the machine's load.
 */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { LocalTrainer } from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { describeMachine, writeResults } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: join(here, '..', 'packages', 'backend-onednn') },
    child: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    steps: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '2' },
    batch: { type: 'string', default: '128' },
    threads: { type: 'string', default: '1' },
    clock: { type: 'string', default: 'cpu' },
    out: { type: 'string', default: join(here, 'results', 'nan-propagation-cost.json') },
  },
});

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

/** One process: register the backend package in `directory`, time the steps, print the median in ms. */
async function measure(directory: string): Promise<void> {
  const { register } = (await import(pathToFileURL(join(directory, 'src', 'index.ts')).href)) as { register: (o: { threads: number }) => Promise<string> };
  await tf.setBackend(await register({ threads: Number(values.threads) }));
  const batchSize = Number(values.batch);
  const trainer = new LocalTrainer({ backbone: resnet32({ seed: 0 }), optimizer: { learningRate: 0.05, momentum: 0.9 } });
  const batch = {
    inputs: tf.randomNormal([batchSize, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D,
    labels: tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i % 10), 'int32'),
  };
  const times: number[] = [];
  const now = values.clock === 'cpu' ? () => { const { user, system } = process.cpuUsage(); return (user + system) / 1000; } : () => performance.now();
  for (let i = 0; i < Number(values.warmup) + Number(values.steps); i++) {
    const started = now();
    // A step's result, read when the step API hands results back unread.
    const result = trainer.step(batch) as unknown as { read?: () => Promise<unknown> };
    if (typeof result?.read === 'function') await result.read();
    if (i >= Number(values.warmup)) times.push(now() - started);
  }
  console.log(JSON.stringify({ medianMs: median(times), times }));
}

if (values.child) {
  await measure(values.child);
} else {
  if (!values.a) throw new Error('--a <folder of the other @mlaan/backend-onednn copy> is required');
  const packages = { A: resolve(values.a), B: resolve(values.b!) };
  const rounds: { round: number; A: number; B: number; ratio: number; load: number[] }[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    const load = loadavg().map((value) => +value.toFixed(2));
    const measured: Record<'A' | 'B', number> = { A: 0, B: 0 };
    // A first in even rounds, B first in odd ones.
    for (const side of round % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
      const output = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', packages[side], '--steps', values.steps!, '--warmup', values.warmup!, '--batch', values.batch!, '--threads', values.threads!, '--clock', values.clock!], {
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: values.threads },
      });
      measured[side] = (JSON.parse(output.trim().split('\n').pop()!) as { medianMs: number }).medianMs;
    }
    rounds.push({ round, A: +measured.A.toFixed(1), B: +measured.B.toFixed(1), ratio: +(measured.B / measured.A).toFixed(4), load });
    console.log(`round ${round}: A ${measured.A.toFixed(1)} ms, B ${measured.B.toFixed(1)} ms, B/A ${(measured.B / measured.A).toFixed(3)} (load ${load.join(' ')})`);
  }
  const ratios = rounds.map((round) => round.ratio);
  const summary = { medianRatio: median(ratios), minRatio: Math.min(...ratios), maxRatio: Math.max(...ratios) };
  console.log(`B/A median ${summary.medianRatio}, range ${summary.minRatio}..${summary.maxRatio}`);
  writeResults(values.out!, {
    benchmark: 'onednn-nan-propagation-cost',
    command: `npx tsx benchmarks/nan-propagation-cost.ts --a ${values.a} --rounds ${values.rounds} --steps ${values.steps} --batch ${values.batch} --threads ${values.threads} --clock ${values.clock}`,
    clock: values.clock === 'cpu' ? 'CPU time of the process per step (ms)' : 'wall time per step (ms)',
    machine: describeMachine(),
    a: packages.A,
    b: packages.B,
    rounds,
    ...summary,
  });
}
