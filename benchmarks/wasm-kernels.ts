/**
 * Milliseconds per call of the conv2d gradient kernels on ResNet-32 (CIFAR) shapes, batch 128:
 * the composed wasm kernels of @mlaan/core against tfjs-backend-wasm's own Conv2DBackpropInput
 * loop, the cpu backend, and the forward wasm Conv2D of the same layer as a yardstick.
 *
 *   npx tsx benchmarks/wasm-kernels.ts [--batch 128] [--repeats 5] [--threads 1] [--skip-cpu]
 *
 * `--threads N` (N > 1) runs wasm on its multi-threaded build through selectBackend. The machine
 * this runs on is reported in the first line; compare numbers only within one run.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { selectBackend } from '../packages/core/src/backend/index.js';
import { wasmTrainingKernels } from '../packages/core/src/kernels/index.js';

const { values: options } = parseArgs({
  options: {
    batch: { type: 'string', default: '128' },
    repeats: { type: 'string', default: '5' },
    threads: { type: 'string', default: '1' },
    'skip-cpu': { type: 'boolean', default: false },
  },
});
const batch = Number(options.batch);
const repeats = Number(options.repeats);
const threads = Number(options.threads);

interface Layer {
  name: string;
  size: number;
  inChannels: number;
  outChannels: number;
  stride: number;
}

// ResNet-32: three stages of 3x3 convolutions; the first conv of stages 2 and 3 has stride 2.
const layers: Layer[] = [
  { name: 'stage1 32x32x16 s1', size: 32, inChannels: 16, outChannels: 16, stride: 1 },
  { name: 'stage2 16x16x32 s1', size: 16, inChannels: 32, outChannels: 32, stride: 1 },
  { name: 'stage3 8x8x64 s1', size: 8, inChannels: 64, outChannels: 64, stride: 1 },
  { name: 'stage2 entry 32x32x16 s2', size: 32, inChannels: 16, outChannels: 32, stride: 2 },
  { name: 'stage3 entry 16x16x32 s2', size: 16, inChannels: 32, outChannels: 64, stride: 2 },
];

// Captured before selectBackend replaces it with the composed kernel.
const wasmOwnBackpropInput = tf.getKernel('Conv2DBackpropInput', 'wasm');
const composedFilter = wasmTrainingKernels.find((config) => config.kernelName === 'Conv2DBackpropFilter')!;
const composedInput = wasmTrainingKernels.find((config) => config.kernelName === 'Conv2DBackpropInput')!;

/** Median milliseconds of `count` calls (after one warm-up call, if asked) of a kernel function run directly. */
function timeKernel(
  kernel: tf.KernelConfig,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
  count: number,
  warmUp = true,
): number {
  const backend = tf.backend();
  const call = () => {
    const output = kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
    backend.readSync(output.dataId);
    backend.disposeData(output.dataId);
  };
  if (warmUp) call();
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    call();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

function layerTensors(layer: Layer) {
  const outSize = Math.ceil(layer.size / layer.stride);
  return {
    x: tf.randomNormal([batch, layer.size, layer.size, layer.inChannels]) as tf.Tensor4D,
    filter: tf.randomNormal([3, 3, layer.inChannels, layer.outChannels]) as tf.Tensor4D,
    dy: tf.randomNormal([batch, outSize, outSize, layer.outChannels]) as tf.Tensor4D,
  };
}

function layerAttrs(layer: Layer) {
  return {
    forward: { strides: [layer.stride, layer.stride], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1] },
    filter: { strides: [layer.stride, layer.stride], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, layer.inChannels, layer.outChannels] },
    input: { strides: [layer.stride, layer.stride], pad: 'same', dataFormat: 'NHWC', inputShape: [batch, layer.size, layer.size, layer.inChannels] },
  } as unknown as Record<'forward' | 'filter' | 'input', tf.NamedAttrMap>;
}

type Row = Record<string, string>;
const format = (ms: number) => ms.toFixed(1);

async function benchmarkWasm(): Promise<Row[]> {
  const selected = await selectBackend('wasm', { wasmThreads: threads, log: () => {} });
  console.log(`wasm: ${selected.description}`);
  const rows: Row[] = [];
  for (const layer of layers) {
    const { x, filter, dy } = layerTensors(layer);
    const attrs = layerAttrs(layer);
    rows.push({
      layer: layer.name,
      'wasm Conv2D (forward)': format(timeKernel(tf.getKernel('Conv2D', 'wasm'), { x, filter }, attrs.forward, repeats)),
      'composed BackpropFilter': format(timeKernel(composedFilter, { x, dy }, attrs.filter, repeats)),
      'composed BackpropInput': format(timeKernel(composedInput, { dy, filter }, attrs.input, repeats)),
      'wasm own BackpropInput': format(timeKernel(wasmOwnBackpropInput, { dy, filter }, attrs.input, Math.min(repeats, 2))),
    });
    console.error(`measured ${JSON.stringify(rows.at(-1))}`);
    tf.dispose([x, filter, dy]);
  }
  return rows;
}

async function benchmarkCpu(rows: Row[]): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
  for (const [index, layer] of layers.entries()) {
    const { x, filter, dy } = layerTensors(layer);
    const attrs = layerAttrs(layer);
    // Seconds per call, so one call each and no warm-up.
    rows[index]!['cpu BackpropFilter'] = format(timeKernel(tf.getKernel('Conv2DBackpropFilter', 'cpu'), { x, dy }, attrs.filter, 1, false));
    rows[index]!['cpu BackpropInput'] = format(timeKernel(tf.getKernel('Conv2DBackpropInput', 'cpu'), { dy, filter }, attrs.input, 1, false));
    console.error(`measured ${JSON.stringify(rows[index])}`);
    tf.dispose([x, filter, dy]);
  }
}

console.log(`${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores, node ${process.version}, batch ${batch}, median of ${repeats} (ms per call)`);
const rows = await benchmarkWasm();
if (!options['skip-cpu']) await benchmarkCpu(rows);
console.table(rows);
