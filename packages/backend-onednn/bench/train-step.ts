// Full TensorFlow.js training steps of a kernel-level CIFAR ResNet-32 of this file's own (3
// stages x 5 basic blocks, 16/32/64 channels, option-A shortcuts, batch norm in training mode
// through tf ops, relu, global mean, dense head, softmax cross-entropy, SGD with momentum,
// gradients from tf.variableGrads) on random data. The library's own trainer against PyTorch on
// the same CPU is benchmarks/native-vs-pytorch.ts.
//
//   npx tsx bench/train-step.ts --backend onednn --batch 128 --steps 10 [--blocks 5] [--profile 1]
//     [--batchnorm fused|ops] [--threads 2]
//
// Prints one JSON line with images/s; --profile 1 also prints where one step's kernel time goes.
import * as tf from '@tensorflow/tfjs-core';

import { batchNormTraining } from '@mlaan/core';
import type { OnednnBackend } from '../src/index.js';
import { type BackendName, median, parseArguments, peakResidentMiB, useBackend } from './backends.js';

const options = parseArguments({
  backend: 'onednn',
  batch: '128',
  steps: '10',
  warmup: '2',
  blocks: '5',
  threads: process.env.OMP_NUM_THREADS ?? '2',
  profile: '0',
  batchnorm: 'fused',
  seed: '0',
});

const batch = Number(options.batch);
const blocksPerStage = Number(options.blocks);
await useBackend(options.backend as BackendName, Number(options.threads));

let seed = Number(options.seed);
function heNormal(shape: number[], fanIn: number): tf.Variable {
  return tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', ++seed));
}

interface BatchNormParameters {
  gamma: tf.Variable;
  beta: tf.Variable;
}

function batchNormParameters(channels: number): BatchNormParameters {
  return { gamma: tf.variable(tf.ones([channels])), beta: tf.variable(tf.zeros([channels])) };
}

// 'fused': core's batchNormTraining (one oneDNN kernel per direction on onednn; tf ops
// elsewhere). 'ops': tf.moments + tf.batchNorm, differentiated op by op by tfjs.
function batchNorm(x: tf.Tensor, parameters: BatchNormParameters): tf.Tensor {
  if (options.batchnorm === 'fused') {
    return batchNormTraining(x, parameters.gamma as tf.Tensor1D, parameters.beta as tf.Tensor1D, 1e-5);
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, parameters.beta, parameters.gamma, 1e-5);
}

interface Block {
  conv1: tf.Variable;
  bn1: BatchNormParameters;
  conv2: tf.Variable;
  bn2: BatchNormParameters;
  stride: number;
  extraChannels: number;
}

const stem = { conv: heNormal([3, 3, 3, 16], 27), bn: batchNormParameters(16) };
const blocks: Block[] = [];
let inChannels = 16;
for (const [stage, channels] of [16, 32, 64].entries()) {
  for (let index = 0; index < blocksPerStage; ++index) {
    const stride = stage > 0 && index === 0 ? 2 : 1;
    blocks.push({
      conv1: heNormal([3, 3, inChannels, channels], 9 * inChannels),
      bn1: batchNormParameters(channels),
      conv2: heNormal([3, 3, channels, channels], 9 * channels),
      bn2: batchNormParameters(channels),
      stride,
      extraChannels: channels - inChannels,
    });
    inChannels = channels;
  }
}
const head = { weight: heNormal([64, 10], 64), bias: tf.variable(tf.zeros([10])) };

function shortcut(x: tf.Tensor4D, block: Block): tf.Tensor4D {
  if (block.stride === 1 && block.extraChannels === 0) return x;
  // Option A: every other pixel (a 1x1 average pool has a gradient; strided slice has none in
  // tfjs) and zero-padded new channels.
  const subsampled = tf.avgPool(x, 1, block.stride, 'valid');
  const half = Math.floor(block.extraChannels / 2);
  return tf.pad(subsampled, [
    [0, 0],
    [0, 0],
    [0, 0],
    [half, block.extraChannels - half],
  ]);
}

function forward(images: tf.Tensor4D): tf.Tensor2D {
  let x = tf.relu(batchNorm(tf.conv2d(images, stem.conv as tf.Tensor4D, 1, 'same'), stem.bn)) as tf.Tensor4D;
  for (const block of blocks) {
    let out = tf.relu(batchNorm(tf.conv2d(x, block.conv1 as tf.Tensor4D, block.stride, 'same'), block.bn1)) as tf.Tensor4D;
    out = batchNorm(tf.conv2d(out, block.conv2 as tf.Tensor4D, 1, 'same'), block.bn2) as tf.Tensor4D;
    x = tf.relu(tf.add(out, shortcut(x, block))) as tf.Tensor4D;
  }
  const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D;
  return tf.add(tf.matMul(pooled, head.weight), head.bias) as tf.Tensor2D;
}

const images = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const labels = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2) as tf.Tensor1D, 10);
const optimizer = tf.train.momentum(0.1, 0.9);

function step(): number {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, forward(images)) as tf.Scalar);
    optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
    return value.dataSync()[0]!;
  });
}

for (let i = 0; i < Number(options.warmup); ++i) step();
const tensorsBefore = tf.memory().numTensors;
const stepMilliseconds: number[] = [];
let loss = Number.NaN;
// CPU time next to wall time: on a shared machine the wall clock includes waiting for a core.
const cpuBefore = process.cpuUsage();
for (let i = 0; i < Number(options.steps); ++i) {
  const start = performance.now();
  loss = step();
  stepMilliseconds.push(performance.now() - start);
}
const cpuUsed = process.cpuUsage(cpuBefore);
const cpuMillisecondsPerStep = (cpuUsed.user + cpuUsed.system) / 1000 / Number(options.steps);
const leaked = tf.memory().numTensors - tensorsBefore;
const pool = (tf.backend() as unknown as Partial<OnednnBackend>).pool?.stats();
const total = stepMilliseconds.reduce((a, b) => a + b, 0);

if (options.profile === '1') {
  const profile = await tf.profile(() => {
    step();
  });
  const byKernel = new Map<string, { milliseconds: number; calls: number }>();
  for (const kernel of profile.kernels) {
    const entry = byKernel.get(kernel.name) ?? { milliseconds: 0, calls: 0 };
    entry.milliseconds += Number(kernel.kernelTimeMs);
    entry.calls += 1;
    byKernel.set(kernel.name, entry);
  }
  const rows = [...byKernel.entries()].sort((a, b) => b[1].milliseconds - a[1].milliseconds);
  const kernelTotal = rows.reduce((sum, [, entry]) => sum + entry.milliseconds, 0);
  console.error(`kernel time in one profiled step: ${kernelTotal.toFixed(1)} ms`);
  for (const [name, entry] of rows.slice(0, 25)) {
    console.error(`  ${name.padEnd(24)} ${entry.milliseconds.toFixed(1).padStart(8)} ms  ${String(entry.calls).padStart(5)} calls`);
  }
  // Small tensors cost per call (dispatch), large ones per byte: split each kernel by output size.
  const bySize = new Map<string, { milliseconds: number; calls: number }>();
  for (const kernel of profile.kernels) {
    const size = kernel.outputShapes.reduce((sum, shape) => sum + (shape ?? []).reduce((a, b) => a * b, 1), 0);
    const key = `${kernel.name} ${size >= 65536 ? 'large' : 'small'}`;
    const entry = bySize.get(key) ?? { milliseconds: 0, calls: 0 };
    entry.milliseconds += Number(kernel.kernelTimeMs);
    entry.calls += 1;
    bySize.set(key, entry);
  }
  console.error('by output size (large: >= 65536 elements):');
  for (const [name, entry] of [...bySize.entries()].sort((a, b) => b[1].milliseconds - a[1].milliseconds).slice(0, 20)) {
    console.error(`  ${name.padEnd(30)} ${entry.milliseconds.toFixed(1).padStart(8)} ms  ${String(entry.calls).padStart(5)} calls`);
  }
}

console.log(
  JSON.stringify({
    framework: 'tfjs',
    backend: tf.getBackend(),
    model: `resnet${6 * blocksPerStage + 2}-cifar`,
    method: 'e2e',
    batchnorm: options.batchnorm,
    batch,
    threads: Number(options.threads),
    steps: Number(options.steps),
    images_per_second: (Number(options.steps) * batch * 1000) / total,
    median_step_ms: median(stepMilliseconds),
    cpu_ms_per_step: cpuMillisecondsPerStep,
    final_loss: loss,
    leaked_tensors_per_run: leaked,
    peak_rss_mib: peakResidentMiB(),
    ...(pool ? { buffer_pool: pool } : {}),
  }),
);
