import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, LocalTrainer, getSplit, LocalLearningPlugin } from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { mlm, lam, withMLAAN } from '@mlaan/mlaan';
import { linearHost } from '../../lam/src/test-support.ts';
await selectBackend('wasm', { log: () => {} });
const B = Number(process.argv[2] ?? 32), K = Number(process.argv[3] ?? 8);
const batch = { inputs: tf.randomNormal([B, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D, labels: tf.tensor1d(Array.from({ length: B }, (_, i) => i % 10), 'int32') };
const configs: Record<string, () => LocalLearningPlugin[]> = { e2e: () => [], host: () => [linearHost()], mlm: () => [linearHost(), mlm()], lam: () => [linearHost(), lam()], mlaan: () => [linearHost(), ...withMLAAN()] };
for (const [name, plugins] of Object.entries(configs)) {
  const backbone = resnet32();
  const trainer = new LocalTrainer({ backbone, cuts: name === 'e2e' ? [] : getSplit({ net: 'resnet32', K }), plugins: plugins() });
  trainer.step(batch);
  const times: number[] = [];
  for (let i = 0; i < 2; i++) { const t = performance.now(); trainer.step(batch); times.push(performance.now() - t); }
  console.log(name, times.map(t => t.toFixed(0)).join(' '));
  trainer.dispose(); backbone.dispose();
}
