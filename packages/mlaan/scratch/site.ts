import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, importPyTorchWeights, LocalTrainer, TRAIN, Residual } from '@mlaan/core';
import { loadFixture, fixtureBatch } from '../../parity/src/index.ts';
import { resnet32 } from '@mlaan/models';
import { withMLAAN } from '@mlaan/mlaan';
import { linearHost } from '../../lam/src/test-support.ts';
await selectBackend('wasm', { log: () => {} });
const fixture = await loadFixture('/work/shared/golden/mlaan-reference-resnet32-k8');
const backbone = resnet32({ classes: 10 });
const [m, l] = withMLAAN({ profile: 'reference' });
const trainer = new LocalTrainer({ backbone, cuts: fixture.config.cut_points as any, plugins: [linearHost(), m, l] });
const rename = (n: string) => n.replace(/^head\.(\d+)\.(independent|cascade)\./, (_, i, r) => `${r}_head.${i}.`);
importPyTorchWeights([...trainer.namedParameters(), ...trainer.namedBuffers()], fixture.weights, { rename });
const batch = fixtureBatch(fixture);
const ctx = { ...TRAIN, updateStatistics: false };
let x: tf.Tensor = batch.inputs;
for (const b of backbone.sequence) {
  if (b.layer instanceof Residual) {
    const [c1, b1, , c2, b2] = b.layer.main.map(([, l]) => l);
    const a = b1!.apply(c1!.apply(x, ctx), ctx);
    const main = b2!.apply(c2!.apply(tf.relu(a), ctx), ctx);
    let s = x; for (const [, q] of b.layer.shortcut ?? []) s = q.apply(s, ctx);
    const pre = tf.add(main, s);
    for (const [label, t] of [['relu1', a], ['out', pre]] as const) {
      const v = t.dataSync(); const C = t.shape[3]!;
      for (let i = 0; i < v.length; i++) if (Math.abs(v[i]!) < 1e-6) console.log(b.name, label, 'index', i, 'channel', i % C, 'value', v[i]!.toExponential(3));
    }
    x = tf.relu(pre);
  } else x = b.layer.apply(x, ctx);
}
