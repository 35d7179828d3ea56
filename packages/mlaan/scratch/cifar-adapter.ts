import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, LocalLearningPlugin, LocalTrainer, perBlockCuts } from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { infoPro, MLAAN_LAMBDA } from '@mlaan/infopro';
import { withMLAAN } from '@mlaan/mlaan';
import { cifarBatches, smallResNet } from '../src/test-support.ts';
await selectBackend('wasm', { log: () => {} });
// Until the hosts size heads from request.input: hand them a module view with the input's shape.
const adapt = (host: LocalLearningPlugin): LocalLearningPlugin => ({ ...host, createHead: (req, ctx) => {
  const view = Object.create(req.module, { outputChannels: { get: () => req.input.channels }, outputSize: { value: () => req.input.size } });
  return host.createHead!({ ...req, module: view }, ctx);
} });
const batches = cifarBatches(256, 32);
for (const [name, host] of [['dgl', dgl({ head: 'mlaan' })], ['infopro', infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' })]] as const) {
  const backbone = smallResNet(1, 3);
  const trainer = new LocalTrainer({ backbone, cuts: perBlockCuts(backbone.stageDepths), plugins: [adapt(host), ...withMLAAN()], optimizer: { learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }, seed: 5 });
  const t0 = Date.now();
  const means: number[] = [];
  for (let e = 0; e < 4; e++) { let s = 0; for (const b of batches) s += trainer.step(b).loss; means.push(s / batches.length); }
  console.log(name, means.map(m => m.toFixed(3)).join(' '), Date.now() - t0, 'ms');
  trainer.dispose(); backbone.dispose();
}
