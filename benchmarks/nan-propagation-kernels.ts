/**
 * The native kernels that keeping NaN changed, timed against the addon of another copy of
 * @mlaan/backend-onednn (A, e.g. main's before the change) in the same process, interleaved call
 * by call, on a ResNet-32 step's tensor sizes at batch 128; and how often a ResNet-32 end-to-end
 * step calls each on this checkout's backend. Interleaving in one process keeps the ratio honest
 * on a loaded machine, where whole-step timings are not (see nan-propagation-cost.ts).
 *
 *   npx tsx benchmarks/nan-propagation-kernels.ts --a /tmp/ab/backend-onednn [--repeats 200] [--threads 2]
 *
 * Writes benchmarks/results/nan-propagation-kernels.json with the command and the machine's load.
 */
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { LocalTrainer } from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { kernelCounts, loadAddon, register, resetKernelCounts, type OnednnAddon } from '../packages/backend-onednn/src/index.js';
import { describeMachine, writeResults } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    repeats: { type: 'string', default: '200' },
    threads: { type: 'string', default: '2' },
    batch: { type: 'string', default: '128' },
    out: { type: 'string', default: join(here, 'results', 'nan-propagation-kernels.json') },
  },
});
if (!values.a) throw new Error('--a <folder of the other @mlaan/backend-onednn copy, with its addon built> is required');
const threads = Number(values.threads);
const repeats = Number(values.repeats);
const batch = Number(values.batch);

const b: OnednnAddon = loadAddon();
const a = createRequire(import.meta.url)(join(resolve(values.a), 'build', 'Release', 'onednn.node')) as OnednnAddon & {
  batchNormTrainingForward(...args: unknown[]): void;
};
a.setNumThreads(threads);
b.setNumThreads(threads);

const random = (size: number) => Float32Array.from({ length: size }, (_, i) => Math.sin(i * 12.9898) * 2);

/** Fastest and median ms of each side, calls interleaved A, B, A, B, … */
function compare(run: (addon: OnednnAddon) => void): { a: number; b: number; ratio: number; medianA: number; medianB: number; medianRatio: number } {
  for (let i = 0; i < 5; i++) {
    run(a);
    run(b);
  }
  const times = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < repeats; i++) {
    for (const side of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) {
      const started = process.hrtime.bigint();
      run(side === 'a' ? a : b);
      times[side].push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  }
  // The fastest call is the one least disturbed by other processes: on a loaded machine it is the
  // steadier estimate of a kernel's own cost; the median is kept beside it.
  const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
  const result = { a: Math.min(...times.a), b: Math.min(...times.b), medianA: median(times.a), medianB: median(times.b) };
  return {
    a: +result.a.toFixed(4),
    b: +result.b.toFixed(4),
    ratio: +(result.b / result.a).toFixed(3),
    medianA: +result.medianA.toFixed(4),
    medianB: +result.medianB.toFixed(4),
    medianRatio: +(result.medianB / result.medianA).toFixed(3),
  };
}

const shapes = [
  [batch, 32, 32, 16],
  [batch, 16, 16, 32],
  [batch, 8, 8, 64],
];
const kernels: Record<string, unknown>[] = [];
const load: Record<string, number[]> = { start: loadavg().map((value) => +value.toFixed(2)) };
for (const shape of shapes) {
  const [n, h, w, c] = shape as [number, number, number, number];
  const size = n * h * w * c;
  const x = random(size);
  const y = new Float32Array(size);
  const residual = random(size);
  const scale = Float32Array.from({ length: c }, () => 1.1);
  const shift = Float32Array.from({ length: c }, () => 0.1);
  const mean = new Float32Array(c);
  const variance = new Float32Array(c);
  const rows = size / c;
  // A: oneDNN's eltwise ReLU (code 0); B: the NaN-keeping clamp.
  const relu = compare((addon) => (addon === a ? a.eltwise(x, y, 0, 0, 0) : b.clamp(x, y, 0, Number.POSITIVE_INFINITY)));
  kernels.push({ kernel: 'Relu', shape, ...relu });
  const fused = compare((addon) => (addon as typeof a).batchNormTrainingForward(x, scale, shift, y, mean, variance, rows, c, 1e-5, residual, true));
  kernels.push({ kernel: 'MlaanBatchNormReluTraining (forward, residual)', shape, ...fused });
  const exp = compare((addon) => addon.eltwise(x, y, 9, 0, 0));
  kernels.push({ kernel: 'Exp', shape, ...exp });
  console.log(`[${shape}] Relu B/A ${relu.ratio} (${relu.a} -> ${relu.b} ms), fused BN+ReLU ${fused.ratio} (${fused.a} -> ${fused.b} ms), Exp ${exp.ratio}`);
}
const logits = random(batch * 10);
const probabilities = new Float32Array(batch * 10);
const softmax = compare((addon) => addon.softmax(logits, probabilities, batch, 10));
kernels.push({ kernel: 'Softmax', shape: [batch, 10], ...softmax });
const rowMax = new Float32Array(batch);
const max = compare((addon) => addon.reduce(logits, rowMax, Int32Array.of(2, 2, batch, 10, batch, 1)));
kernels.push({ kernel: 'Max (last axis)', shape: [batch, 10], ...max });
console.log(`[${batch},10] Softmax B/A ${softmax.ratio}, Max ${max.ratio}`);
load.end = loadavg().map((value) => +value.toFixed(2));

// How often one ResNet-32 end-to-end step on this checkout's backend calls each native kernel.
await tf.setBackend(await register({ threads }));
const trainer = new LocalTrainer({ backbone: resnet32({ seed: 0 }), optimizer: { learningRate: 0.05, momentum: 0.9 } });
const inputs = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32');
const step = async () => {
  const result = trainer.step({ inputs, labels }) as unknown as { read?: () => Promise<unknown> };
  if (typeof result?.read === 'function') await result.read();
};
await step();
resetKernelCounts();
const started = performance.now();
await step();
const stepMs = performance.now() - started;
const counts = kernelCounts();
console.log(`one step: ${stepMs.toFixed(0)} ms; native calls of the changed kernels: ${JSON.stringify(Object.fromEntries(['Relu', 'Relu6', 'Exp', 'Softmax', 'Max', 'Min', 'Maximum', 'Minimum', 'MaxPool', 'FusedConv2D', '_FusedMatMul'].map((name) => [name, counts.native[name] ?? 0])))}`);

writeResults(values.out!, {
  benchmark: 'onednn-nan-propagation-kernels',
  command: `npx tsx benchmarks/nan-propagation-kernels.ts --a ${values.a} --repeats ${repeats} --threads ${threads} --batch ${batch}`,
  machine: describeMachine({ load }),
  kernels,
  resnet32Step: { batch, ms: +stepMs.toFixed(1), nativeCalls: counts.native, fallbackCalls: counts.fallback },
});
