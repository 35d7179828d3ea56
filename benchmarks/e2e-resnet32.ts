/**
 * ResNet-32 end-to-end training throughput and peak tensor memory, per backend.
 *
 *   npx tsx benchmarks/e2e-resnet32.ts [--backends wasm,cpu] [--batch 128] [--steps 5]
 *
 * Writes benchmarks/results/e2e-resnet32.json with the machine's description. Random data: the
 * step cost does not depend on pixel values.
 */
import * as tf from '@tensorflow/tfjs-core';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LocalTrainer, measureMemory, selectBackend, ThroughputMeter, type BackendChoice } from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { describeMachine, writeResults } from './lib/results.js';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '5' },
    out: { type: 'string', default: join(dirname(fileURLToPath(import.meta.url)), 'results', 'e2e-resnet32.json') },
  },
});
const batchSize = Number(values.batch);
const steps = Number(values.steps);
const results: Record<string, unknown>[] = [];

for (const choice of values.backends!.split(',')) {
  let selected;
  try {
    selected = await selectBackend(choice as BackendChoice, { log: (m) => console.error(m) });
  } catch (error) {
    console.error(`skip ${choice}: ${(error as Error).message}`);
    results.push({ backend: choice, skipped: (error as Error).message });
    continue;
  }
  const backbone = resnet32({ seed: 0 });
  const trainer = new LocalTrainer({ backbone, optimizer: { learningRate: 0.1 } });
  const batch = {
    inputs: tf.randomNormal([batchSize, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D,
    labels: tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i % 10), 'int32'),
  };
  const meter = new ThroughputMeter(1);
  for (let i = 0; i < steps + 1; i++) {
    meter.start();
    trainer.step(batch).dispose();
    const ms = meter.stop(batchSize);
    console.error(`${choice} step ${i}: ${ms.toFixed(0)} ms`);
  }
  const tensorsBefore = tf.memory().numTensors;
  const { result: stepped, memory } = await measureMemory(() => trainer.step(batch));
  stepped.dispose();
  const summary = meter.summary();
  const row = {
    backend: selected.tfjsBackend,
    description: selected.description,
    batchSize,
    ...summary,
    peakTensorBytes: memory.peakTensorBytes,
    peakTensorMiB: +(memory.peakTensorBytes / 2 ** 20).toFixed(1),
    /** Distinct data buffers (state + the step's peak): tfjs's count above charges shared clones again. */
    peakBufferMiB: +((memory.baselineTensorBytes + memory.peakBufferAllocationBytes) / 2 ** 20).toFixed(1),
    baselineTensorMiB: +(memory.baselineTensorBytes / 2 ** 20).toFixed(1),
    rssMiB: +(memory.rssBytes / 2 ** 20).toFixed(1),
    leakedTensors: tf.memory().numTensors - tensorsBefore,
  };
  console.log(JSON.stringify(row));
  results.push(row);
  trainer.dispose();
  backbone.dispose();
  batch.inputs.dispose();
  batch.labels.dispose();
}

writeResults(values.out!, {
  benchmark: 'resnet32-e2e-training',
  command: `npx tsx benchmarks/e2e-resnet32.ts --backends ${values.backends} --batch ${batchSize} --steps ${steps}`,
  machine: describeMachine(),
  results,
});
