import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, importPyTorchWeights, Residual } from '@mlaan/core';
import { createNetwork } from '@mlaan/models';
import { loadFixture, fixtureBatch } from '../parity/src/index.js';
await selectBackend((process.argv[2] ?? 'wasm') as 'wasm', { log: () => {} });
const fixture = await loadFixture('/work/shared/golden/infopro-resnet32-k4');
const backbone = createNetwork('resnet32', { classes: 10 });
importPyTorchWeights(backbone.namedVariables(), fixture.weights, { allowUnused: true });
const { inputs } = fixtureBatch(fixture);
const ctx = { training: true, updateStatistics: false };
let h: tf.Tensor = inputs;
for (const b of backbone.sequence) {
  if (b.name === 'layer2.3') {
    const block = b.layer as Residual;
    const conv1 = block.main[0]![1], bn1 = block.main[1]![1];
    const pre = bn1.apply(conv1.apply(h, ctx), ctx);
    const data = pre.dataSync(); const C = pre.shape[3]!;
    for (const c of [20, 11, 3]) {
      let best = Infinity, idx = -1;
      for (let i = c; i < data.length; i += C) if (Math.abs(data[i]!) < best) { best = Math.abs(data[i]!); idx = i; }
      console.log('layer2.3 bn1 out channel', c, 'min |x|', best.toExponential(3), 'at', idx);
    }
    // residual-sum near zero anywhere in this block's output?
  }
  h = b.layer.apply(h, ctx);
}
