import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, importPyTorchWeights, LocalTrainer, LossTerm, rawToTensor } from '@mlaan/core';
import { loadFixture, fixtureBatch, toPyTorchLayout } from '../../parity/src/index.ts';
import { resnet32 } from '@mlaan/models';
import { withMLAAN } from '@mlaan/mlaan';
import { linearHost } from '../../lam/src/test-support.ts';
await selectBackend('wasm', { log: () => {} });
const fixture = await loadFixture('/work/shared/golden/mlaan-reference-resnet32-k8');
const rename = (n: string) => n.replace(/^head\.(\d+)\.(independent|cascade)\./, (_, i, r) => `${r}_head.${i}.`);
const batch = fixtureBatch(fixture);
const target = process.argv[2] ?? 'layer1.1.conv1.weight';
function grads(filter?: string) {
  const backbone = resnet32({ classes: 10 });
  const [m, l] = withMLAAN({ profile: 'reference', target: 'cascade' });
  const only = { name: 'only', enforce: 'post' as const, terms: (ts: LossTerm[]) => filter ? ts.filter(t => t.name === filter) : ts };
  const trainer = new LocalTrainer({ backbone, cuts: fixture.config.cut_points as any, plugins: [linearHost(), m, l, only] });
  importPyTorchWeights([...trainer.namedParameters(), ...trainer.namedBuffers()], fixture.weights, { rename, allowMissing: true, allowUnused: true });
  const { gradients } = trainer.computeGradients(batch);
  const g = gradients.get(target);
  const out = g ? toPyTorchLayout(g).dataSync() as Float32Array : undefined;
  trainer.dispose(); backbone.dispose();
  return out;
}
const expected = rawToTensor(fixture.expected.get('grad.' + target)!).dataSync() as Float32Array;
const all = grads()!;
const diff = expected.map((v, i) => v - all[i]!);
const norm = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
console.log(target, '|expected|', norm(expected).toExponential(3), '|diff|', norm(diff).toExponential(3));
const names: string[] = [];
for (const n of names) {
  const g = grads(n); if (!g) continue;
  const w = n.includes('independent') ? 0.001 : n === 'module7.cascade' ? 1 : 0.999;
  const contrib = g.map(v => v * 1);
  console.log(n, '|contrib|', norm(contrib).toExponential(3), 'cos(diff, contrib)', (dot(diff, contrib) / norm(diff) / norm(contrib)).toFixed(3), 'proj coef', (dot(diff, contrib) / dot(contrib, contrib)).toExponential(3));
}
{
  const O = 16, R = diff.length / O;
  const M = tf.tensor2d(diff, [O, R]);
  // power iteration for top singular values
  const gram = tf.matMul(M, M, false, true).arraySync() as number[][];
  // eigenvalues of 16x16 symmetric via simple Jacobi-free approach: use numpy later; print gram trace and top eig by power iteration
  let v = tf.ones([O, 1]); const G = tf.tensor2d(gram);
  for (let k = 0; k < 200; k++) { v = tf.matMul(G, v); v = tf.div(v, tf.norm(v)); }
  const top = tf.sum(tf.mul(v, tf.matMul(G, v))).dataSync()[0]!;
  const trace = gram.reduce((s, r, i) => s + r[i]!, 0);
  console.log('diff energy in top singular direction', (top / trace).toFixed(4));
}
