/**
 * What the all-or-nothing step costs (issue 25: "the non-finite check costs < 2 % of the ResNet-32
 * E2E step on onednn"), in one process, interleaved: the whole step as it ships, against the same
 * step with its variable journal (the values before the step, the commit on the device's verdict)
 * and its gradient check (one sum per module's gradients) switched off. The verdict's last pass
 * (finite losses and input, labels that are class indices: about a dozen scalar kernels) stays in
 * both. Rounds alternate the variants so that drift in the machine's speed falls on both.
 *
 *   npx tsx benchmarks/step-check-cost.ts [--batch 128] [--rounds 12] [--steps 3] [--backend onednn]
 *
 * Writes benchmarks/results/step-check-cost.json with the command and the load.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GradientCheck, LocalTrainer, selectBackend, VariableJournal } from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine, writeResults } from './lib/results.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '12' },
    steps: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'onednn' },
    out: { type: 'string', default: join(import.meta.dirname, 'results', 'step-check-cost.json') },
  },
});
await selectBackend(values.backend!, { log: () => {} });
const trainer = new LocalTrainer({ backbone: resnet32({ seed: 0 }), optimizer: { learningRate: 0.01 } });
const n = Number(values.batch);
const batch = {
  inputs: tf.randomNormal([n, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D,
  labels: tf.tensor1d(Array.from({ length: n }, (_, i) => i % 10), 'int32'),
};
async function step(): Promise<void> {
  const result = trainer.step(batch);
  await result.read();
  result.dispose();
}

// The two parts switched off by replacing their methods; nothing else of the step changes.
type Patchable = Record<string, (...args: unknown[]) => unknown>;
const journal = VariableJournal.prototype as unknown as Patchable;
const check = GradientCheck.prototype as unknown as Patchable;
const shipped = { record: journal.record!, commit: journal.commit!, add: check.add! };
const variants = {
  shipped: () => Object.assign(journal, { record: shipped.record, commit: shipped.commit }) && Object.assign(check, { add: shipped.add }),
  'without journal and gradient check': () =>
    Object.assign(journal, {
      record() {},
      commit(this: { close(): void }) {
        this.close();
      },
    }) && Object.assign(check, { add() {} }),
};

for (let i = 0; i < 3; i++) await step();
const times: Record<string, number[]> = {};
for (let round = 0; round < Number(values.rounds); round++) {
  const order = Object.entries(variants);
  if (round % 2) order.reverse();
  for (const [name, use] of order) {
    use();
    await step();
    const started = performance.now();
    for (let i = 0; i < Number(values.steps); i++) await step();
    (times[name] ??= []).push((performance.now() - started) / Number(values.steps));
  }
}
variants.shipped();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const shippedMs = median(times.shipped!);
const withoutMs = median(times['without journal and gradient check']!);
const rows = Object.entries(times).map(([variant, ms]) => ({ variant, medianStepMs: median(ms), stepMs: ms }));
for (const row of rows) console.log(`${row.variant.padEnd(36)} median ${row.medianStepMs.toFixed(1)} ms`);
console.log(`the journal and gradient check: ${(((shippedMs - withoutMs) / withoutMs) * 100).toFixed(1)} % of the step (target < 2 %)`);
writeResults(values.out!, {
  command: `npx tsx benchmarks/step-check-cost.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: describeMachine(),
  load: loadavg(),
  backend: values.backend,
  batch: n,
  configuration: 'ResNet-32 E2E',
  rows,
  costFraction: (shippedMs - withoutMs) / withoutMs,
});
