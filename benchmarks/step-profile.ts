/**
 * Where one training step's time goes, kernel by kernel, against each kernel's own limit.
 *
 *   npx tsx benchmarks/step-profile.ts [--configurations e2e,mlaan-k8] [--backend onednn]
 *       [--batch 128] [--warmup 2] [--steps 5] [--threads 2] [--out ...]
 *
 * Every kernel call of `--steps` training steps is timed (wall clock around the kernel function;
 * the native kernels are synchronous) and grouped by what it is: convolution forward, backward
 * data and backward weights, matrix products, batch norm forward and backward, element-wise
 * passes, reductions, layout changes (transpose, pad, slice, copies), the optimizer's update (every
 * kernel the SGD step runs) and the rest. Time outside kernels (tfjs's engine, the trainer's
 * JavaScript) is the step time minus the kernels' sum.
 *
 * Each group is set against its own roofline: the FLOP-bound kernels (convolutions, matrix
 * products) against the machine's FMA peak, the memory-bound ones (everything else) against the
 * machine's memory bandwidth, both measured in the same run by the onednn addon's probes. The
 * bytes of a memory-bound kernel are what it must at least read and write (its inputs and outputs
 * once each). Writes benchmarks/results/step-profile.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LocalTrainer, selectBackend, type Batch, type BackendChoice } from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { CONFIGURATIONS, cutsOf } from './lib/configurations.js';
import { timeKernels, type KernelCall } from './lib/kernel-timer.js';
import { kernelMultiplyAdds, product } from './lib/multiply-adds.js';
import { cpuVectorFlags, measureMachineLimits } from './lib/machine-limits.js';
import { describeMachine, writeResults } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    configurations: { type: 'string', default: 'e2e,mlaan-k8' },
    backend: { type: 'string', default: 'onednn' },
    batch: { type: 'string', default: '128' },
    warmup: { type: 'string', default: '2' },
    steps: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    out: { type: 'string', default: join(here, 'results', 'step-profile.json') },
  },
});
const batchSize = Number(values.batch);
const threads = Number(values.threads);

type Group =
  | 'convolution forward'
  | 'convolution backward data'
  | 'convolution backward weights'
  | 'matrix product'
  | 'batch norm forward'
  | 'batch norm backward'
  | 'element-wise'
  | 'reduction'
  | 'layout'
  | 'optimizer'
  | 'other';

const ELEMENTWISE = new Set([
  'Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference', 'Relu', 'Relu6', 'LeakyRelu', 'Elu',
  'Sigmoid', 'Tanh', 'Exp', 'Log', 'Sqrt', 'Rsqrt', 'Reciprocal', 'Square', 'Abs', 'Neg', 'Step', 'AddN', 'MlaanReluGrad',
  'Cast', 'Softmax', 'LogSoftmax', 'Greater', 'Less', 'Equal', 'Select', 'ZerosLike', 'OnesLike', 'Fill',
]);
const REDUCTION = new Set(['Sum', 'Mean', 'Max', 'Min', 'Prod', 'ArgMax', 'ArgMin']);
const LAYOUT = new Set(['Transpose', 'PadV2', 'Slice', 'StridedSlice', 'Reshape', 'Identity', 'Concat', 'Tile', 'Pack', 'Unpack', 'Split', 'GatherV2']);

function groupOf(call: KernelCall, phase: 'step' | 'optimizer'): Group {
  if (phase === 'optimizer') return 'optimizer';
  if (call.name === 'Conv2D' || call.name === 'FusedConv2D') return 'convolution forward';
  if (call.name === 'Conv2DBackpropInput') return 'convolution backward data';
  if (call.name === 'Conv2DBackpropFilter') return 'convolution backward weights';
  if (call.name === 'BatchMatMul' || call.name === '_FusedMatMul' || call.name === 'MatMul') return 'matrix product';
  if (call.name === 'MlaanBatchNormTraining' || call.name === 'MlaanBatchNormReluTraining') return 'batch norm forward';
  if (call.name === 'MlaanBatchNormTrainingGrad' || call.name === 'MlaanBatchNormReluTrainingGrad') return 'batch norm backward';
  if (ELEMENTWISE.has(call.name)) return 'element-wise';
  if (REDUCTION.has(call.name)) return 'reduction';
  if (LAYOUT.has(call.name)) return 'layout';
  return 'other';
}

/** Kernels that make a view of their input: no data moves. */
const VIEWS = new Set(['Reshape', 'Identity']);

/** Bytes a call must at least move: its inputs read and its outputs written once (float32). */
function minimumBytes(call: KernelCall): number {
  if (VIEWS.has(call.name)) return 0;
  return 4 * [...call.inputShapes, ...call.outputShapes].reduce((sum, shape) => sum + product(shape), 0);
}

interface Totals {
  ms: number;
  cpuMs: number;
  calls: number;
  multiplyAdds: number;
  bytes: number;
}

/** Adds one call's times, multiply-adds and bytes to the totals under `key`. */
function addCall(totals: Map<string, Totals>, key: string, call: KernelCall): void {
  const t = totals.get(key) ?? { ms: 0, cpuMs: 0, calls: 0, multiplyAdds: 0, bytes: 0 };
  t.ms += call.ms;
  t.cpuMs += call.cpuMs;
  t.calls += 1;
  t.multiplyAdds += kernelMultiplyAdds(call);
  t.bytes += minimumBytes(call);
  totals.set(key, t);
}

function randomBatch(): Batch {
  const mean = [125.3 / 255, 123.0 / 255, 113.9 / 255];
  const std = [63.0 / 255, 62.1 / 255, 66.7 / 255];
  return tf.tidy(() => {
    const images01 = tf.randomUniform([batchSize, 32, 32, 3], 0, 1, 'float32', 1);
    const inputs = tf.div(tf.sub(images01, tf.tensor1d(mean)), tf.tensor1d(std));
    const labels = tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i % 10), 'int32');
    return { inputs, labels } as unknown as tf.TensorContainer;
  }) as unknown as Batch;
}

// The onednn backend takes its thread count from OMP_NUM_THREADS when it registers.
process.env.OMP_NUM_THREADS = String(threads);
const selected = await selectBackend(values.backend as BackendChoice, { log: (m) => console.error(m) });
const loadAverageStart = loadavg();
const limits = [measureMachineLimits(threads, loadAverageStart[0]!)];
console.error(`machine limit: ${limits[0]!.peakGflops} GFLOP/s FMA peak, ${limits[0]!.copyGBs} GB/s streaming copy (${threads} threads)`);
const results: Record<string, unknown>[] = [];
for (const name of values.configurations!.split(',').filter(Boolean)) {
  const configuration = CONFIGURATIONS[name];
  if (!configuration) throw new Error(`Unknown configuration '${name}'. Known: ${Object.keys(CONFIGURATIONS).join(', ')}.`);
  const backbone = resnet32({ seed: 0 });
  const trainer = new LocalTrainer({
    backbone,
    cuts: cutsOf(configuration),
    plugins: configuration.plugins(),
    optimizer: { learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
    seed: 0,
  });
  const batch = randomBatch();
  for (let i = 0; i < Number(values.warmup); i++) trainer.step(batch).dispose();

  const timer = timeKernels(selected.tfjsBackend);
  let phase: 'step' | 'optimizer' = 'step';
  const tagged: { call: KernelCall; phase: 'step' | 'optimizer' }[] = [];
  const flush = () => {
    for (const call of timer.take()) tagged.push({ call, phase });
  };
  const optimizerStep = trainer.optimizer.step.bind(trainer.optimizer);
  trainer.optimizer.step = (gradients) => {
    flush();
    phase = 'optimizer';
    optimizerStep(gradients);
    flush();
    phase = 'step';
  };
  const stepMs: number[] = [];
  let stepCpuMs = 0;
  for (let i = 0; i < Number(values.steps); i++) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    trainer.step(batch).dispose();
    stepMs.push(performance.now() - started);
    const cpu = process.cpuUsage(cpuBefore);
    stepCpuMs += (cpu.user + cpu.system) / 1000;
    flush();
  }
  timer.restore();
  const steps = stepMs.length;
  const totalMs = stepMs.reduce((a, b) => a + b, 0);

  const groups = new Map<string, Totals>();
  const byKernel = new Map<string, Totals>();
  for (const { call, phase: callPhase } of tagged) {
    const group = groupOf(call, callPhase);
    addCall(groups, group, call);
    addCall(byKernel, `${group} | ${call.name} ${call.inputShapes.map((s) => `[${s.join(',')}]`).join(' ')}`, call);
  }
  const kernelMs = [...groups.values()].reduce((a, g) => a + g.ms, 0);
  const kernelCpuMs = [...groups.values()].reduce((a, g) => a + g.cpuMs, 0);
  const perStep = (x: number) => +(x / steps).toFixed(2);
  const limit = limits[0]!;
  // Each group's own roofline: FLOP-bound groups at the FMA peak, the rest at the streaming
  // bandwidth (their minimum bytes; data that stays in cache can beat it, a fraction above 1).
  const rooflineMs = (g: { multiplyAdds: number; bytes: number }) =>
    g.multiplyAdds > 0 ? ((2 * g.multiplyAdds) / (limit.peakGflops * 1e9)) * 1000 : (g.bytes / (limit.copyGBs * 1e9)) * 1000;
  const table = [...groups.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([group, g]) => ({
      group,
      msPerStep: perStep(g.ms),
      cpuMsPerStep: perStep(g.cpuMs),
      share: +(g.ms / totalMs).toFixed(3),
      callsPerStep: g.calls / steps,
      gflopPerStep: +((2 * g.multiplyAdds) / steps / 1e9).toFixed(3),
      achievedGflops: g.multiplyAdds ? +((2 * g.multiplyAdds) / (g.ms / 1000) / 1e9).toFixed(1) : undefined,
      mbPerStep: +(g.bytes / steps / 1e6).toFixed(1),
      achievedGBs: +(g.bytes / (g.ms / 1000) / 1e9).toFixed(1),
      bound: g.multiplyAdds > 0 ? 'FLOP' : 'memory',
      rooflineMsPerStep: perStep(rooflineMs(g)),
      fractionOfRoofline: +(rooflineMs(g) / g.ms).toFixed(3),
    }));
  table.push({
    group: 'outside kernels (engine, trainer)',
    msPerStep: perStep(totalMs - kernelMs),
    cpuMsPerStep: perStep(stepCpuMs - kernelCpuMs),
    share: +((totalMs - kernelMs) / totalMs).toFixed(3),
    callsPerStep: 0,
    gflopPerStep: 0,
    achievedGflops: undefined,
    mbPerStep: 0,
    achievedGBs: 0,
    bound: 'overhead',
    rooflineMsPerStep: 0,
    fractionOfRoofline: 0,
  });
  const top = [...byKernel.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 40)
    .map(([kernel, k]) => ({
      kernel,
      msPerStep: perStep(k.ms),
      cpuMsPerStep: perStep(k.cpuMs),
      callsPerStep: k.calls / steps,
      achievedGflops: k.multiplyAdds ? +((2 * k.multiplyAdds) / (k.ms / 1000) / 1e9).toFixed(1) : undefined,
      achievedGBs: +(k.bytes / (k.ms / 1000) / 1e9).toFixed(1),
    }));
  const gflopPerStep = table.reduce((a, g) => a + g.gflopPerStep, 0);
  console.log(`\n${name}: ${gflopPerStep.toFixed(2)} GFLOP/step, ${((gflopPerStep * steps) / (totalMs / 1000)).toFixed(1)} GFLOP/s = ${((gflopPerStep * steps) / (totalMs / 1000) / limit.peakGflops).toFixed(3)} of the limit; ${(totalMs / steps).toFixed(1)} ms/step (${((steps * batchSize) / (totalMs / 1000)).toFixed(1)} images/s), load ${loadavg()[0]}`);
  console.table(table);
  console.table(top.slice(0, 25));
  results.push({
    configuration: name,
    stepMs,
    cpuMsPerStep: perStep(stepCpuMs),
    gflopPerStep: +gflopPerStep.toFixed(3),
    achievedGflops: +((gflopPerStep * steps) / (totalMs / 1000)).toFixed(1),
    groups: table,
    kernels: top,
  });
  trainer.dispose();
  backbone.dispose();
  tf.dispose([batch.inputs, batch.labels]);
}

writeResults(values.out!, {
  benchmark: 'step-profile',
  command: ['npx tsx benchmarks/step-profile.ts', ...process.argv.slice(2)].join(' '),
  machine: describeMachine({
    backend: selected.tfjsBackend,
    threads,
    cpuFlags: cpuVectorFlags(),
    limits: [...limits, measureMachineLimits(threads, loadavg()[0]!)],
    loadAverageStart,
    loadAverageEnd: loadavg(),
  }),
  results,
});
