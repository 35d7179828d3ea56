// Convolution kernels on CIFAR ResNet-32's shapes (batch 128, NHWC, 3x3, 'same'): forward
// (Conv2D), input gradient (Conv2DBackpropInput) and filter gradient (Conv2DBackpropFilter), timed
// per backend through tf.engine().runKernel, i.e. with the tfjs dispatch and output allocation a
// training step pays.
//
//   npx tsx bench/conv.ts [--backends onednn,wasm,cpu] [--repeats 5] [--batch 128] [--threads 2]
//
// The pure-JS cpu backend takes seconds per call at batch 128; it runs each kernel once and can
// be left out. Prints a table to stderr and one JSON line per (backend, shape, kernel).
import * as tf from '@tensorflow/tfjs-core';

import { loadAddon } from '../src/index.js';
import { type BackendName, median, parseArguments, useBackend } from './backends.js';

const options = parseArguments({
  backends: 'onednn,wasm,cpu',
  repeats: '5',
  batch: '128',
  threads: process.env.OMP_NUM_THREADS ?? '2',
});

interface ConvolutionShape {
  name: string;
  size: number;
  inChannels: number;
  outChannels: number;
  stride: number;
}

// The distinct 3x3 convolutions of ResNet-32 (each stage's repeated one, and the strided ones).
const shapes: ConvolutionShape[] = [
  { name: 'stem 3->16 @32', size: 32, inChannels: 3, outChannels: 16, stride: 1 },
  { name: 'stage1 16->16 @32', size: 32, inChannels: 16, outChannels: 16, stride: 1 },
  { name: 'stage2 16->32 /2', size: 32, inChannels: 16, outChannels: 32, stride: 2 },
  { name: 'stage2 32->32 @16', size: 16, inChannels: 32, outChannels: 32, stride: 1 },
  { name: 'stage3 32->64 /2', size: 16, inChannels: 32, outChannels: 64, stride: 2 },
  { name: 'stage3 64->64 @8', size: 8, inChannels: 64, outChannels: 64, stride: 1 },
];

const batch = Number(options.batch);
const threads = Number(options.threads);

function timeKernel(run: () => tf.Tensor, repeats: number): { wallMs: number; cpuMs: number } {
  tf.dispose(run()); // first call creates and caches primitives
  const wall: number[] = [];
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < repeats; ++i) {
    const start = performance.now();
    const result = run();
    result.dataSync();
    wall.push(performance.now() - start);
    result.dispose();
  }
  const cpu = process.cpuUsage(cpuBefore);
  return { wallMs: median(wall), cpuMs: (cpu.user + cpu.system) / 1000 / repeats };
}

const rows: string[] = [];
for (const backend of options.backends.split(',') as BackendName[]) {
  await useBackend(backend, threads);
  const repeats = backend === 'cpu' ? 1 : Number(options.repeats);
  for (const shape of shapes) {
    const outSize = shape.size / shape.stride;
    const x = tf.randomNormal([batch, shape.size, shape.size, shape.inChannels], 0, 1, 'float32', 1);
    const filter = tf.randomNormal([3, 3, shape.inChannels, shape.outChannels], 0, 0.1, 'float32', 2);
    const dy = tf.randomNormal([batch, outSize, outSize, shape.outChannels], 0, 1, 'float32', 3);
    const common = { strides: [shape.stride, shape.stride], pad: 'same', dataFormat: 'NHWC' };
    const kernels: Array<[string, () => tf.Tensor]> = [
      ['Conv2D', () => tf.engine().runKernel('Conv2D', { x, filter }, { ...common, dilations: [1, 1] }) as tf.Tensor],
      [
        'Conv2DBackpropInput',
        () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...common, inputShape: x.shape }) as tf.Tensor,
      ],
      [
        'Conv2DBackpropFilter',
        () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: filter.shape }) as tf.Tensor,
      ],
    ];
    for (const [kernel, run] of kernels) {
      if (!tf.getKernel(kernel, backend)) {
        console.error(`${backend.padEnd(7)} ${shape.name.padEnd(20)} ${kernel.padEnd(21)} not implemented by this backend`);
        continue;
      }
      const { wallMs, cpuMs } = timeKernel(run, repeats);
      const flops = 2 * batch * outSize * outSize * shape.outChannels * 9 * shape.inChannels;
      rows.push(
        `${backend.padEnd(7)} ${shape.name.padEnd(20)} ${kernel.padEnd(21)} ${wallMs.toFixed(2).padStart(9)} ms  cpu ${cpuMs.toFixed(2).padStart(9)} ms  ${(flops / wallMs / 1e6).toFixed(1).padStart(7)} GFLOP/s`,
      );
      console.log(JSON.stringify({ backend, threads, batch, shape: shape.name, kernel, wall_ms: wallMs, cpu_ms: cpuMs, gflops: flops / wallMs / 1e6 }));
      console.error(rows[rows.length - 1]);
    }
    tf.dispose([x, filter, dy]);
  }
}

if (options.backends.includes('onednn')) {
  const addon = loadAddon();
  console.error(`oneDNN ${addon.version().join('.')} on ${addon.cpuIsa()}, ${addon.getNumThreads()} threads`);
  for (const shape of shapes) {
    const out = shape.size / shape.stride;
    const total = (out - 1) * shape.stride + 3 - shape.size;
    const geometry = Int32Array.of(batch, shape.size, shape.size, shape.inChannels, out, out, shape.outChannels, 3, 3, shape.stride, shape.stride, 1, 1, Math.floor(total / 2), Math.floor(total / 2), total - Math.floor(total / 2), total - Math.floor(total / 2));
    console.error(`  ${shape.name.padEnd(20)} ${JSON.stringify(addon.conv2dImplementations(geometry))}`);
  }
}
