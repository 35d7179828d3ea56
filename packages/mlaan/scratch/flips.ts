import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, importPyTorchWeights, LocalTrainer, TRAIN, Residual } from '@mlaan/core';
import { loadFixture, fixtureBatch } from '../../parity/src/index.ts';
import { resnet32 } from '@mlaan/models';
import { withMLAAN } from '@mlaan/mlaan';
import { linearHost } from '../../lam/src/test-support.ts';
await selectBackend(process.argv[2] ?? 'wasm', { log: () => {} });
const fixture = await loadFixture('/work/shared/golden/mlaan-reference-resnet32-k8');
const backbone = resnet32({ classes: 10 });
const [m, l] = withMLAAN({ profile: 'reference' });
const trainer = new LocalTrainer({ backbone, cuts: fixture.config.cut_points as any, plugins: [linearHost(), m, l] });
const rename = (n: string) => n.replace(/^head\.(\d+)\.(independent|cascade)\./, (_, i, r) => `${r}_head.${i}.`);
importPyTorchWeights([...trainer.namedParameters(), ...trainer.namedBuffers()], fixture.weights, { rename });
const batch = fixtureBatch(fixture);
const ctx = { ...TRAIN, updateStatistics: false };
let h: tf.Tensor = batch.inputs;
const outs: tf.Tensor[] = [];
for (const mod of trainer.modules) { h = mod.apply(h, ctx); outs.push(h); }
function minAbsPreRelu(block: Residual, x: tf.Tensor, label: string) {
  // main: conv1 bn1 relu conv2 bn2 ; out = relu(main + shortcut)
  const [c1, b1, , c2, b2] = block.main.map(([, l]) => l);
  const a = b1!.apply(c1!.apply(x, ctx), ctx);
  const main = b2!.apply(c2!.apply(tf.relu(a), ctx), ctx);
  let s = x; for (const [, l] of block.shortcut ?? []) s = l.apply(s, ctx);
  const pre = tf.add(main, s);
  const m1 = tf.min(tf.abs(a)).dataSync()[0]; const m2 = tf.min(tf.abs(pre)).dataSync()[0];
  const n1 = tf.sum(tf.cast(tf.less(tf.abs(a), 1e-5), 'int32')).dataSync()[0]; const n2 = tf.sum(tf.cast(tf.less(tf.abs(pre), 1e-5), 'int32')).dataSync()[0];
  console.log(label, 'relu1 min', m1.toExponential(2), '#<1e-5', n1, ' out min', m2.toExponential(2), '#<1e-5', n2);
  return tf.relu(pre);
}
for (const [i, net] of l.networks) {
  const u = outs[i]!;
  // block 0 + twin
  const z0 = minAbsPreRelu(net.copies[0] as Residual, u, `lam${i} copy0`);
  const t0 = minAbsPreRelu(net.twin as Residual, u, `lam${i} twin `);
  let z = tf.add(z0, t0);
  for (let j = 1; j < net.copies.length; j++) z = minAbsPreRelu(net.copies[j] as Residual, z, `lam${i} copy${j}`);
}
let x: tf.Tensor = batch.inputs;
for (const mod of trainer.modules) for (const b of mod.blocks) { if (b.layer instanceof Residual) x = minAbsPreRelu(b.layer, x, b.name); else x = b.layer.apply(x, ctx); }
