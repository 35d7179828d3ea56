import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, rawToTensor } from '@mlaan/core';
import { loadFixture } from '../parity/src/index.js';
import { infoproRunner } from '../parity/src/runners/infopro.js';
await selectBackend((process.argv[2] ?? 'wasm') as 'wasm', { log: () => {} });
const fixture = await loadFixture('/work/shared/golden/infopro-resnet32-k4');
const produced = await infoproRunner.run(fixture);
for (const name of ['grad.layer2.3.bn1.bias', 'grad.layer2.3.bn1.weight', 'grad.layer2.2.bn2.bias', 'grad.layer2.2.bn1.bias']) {
  const ours = produced.get(name)!.dataSync();
  const theirs = rawToTensor(fixture.expected.get(name)!).dataSync();
  const errs = Array.from(ours).map((v, i) => [i, Math.abs(v - theirs[i]!), v, theirs[i]!] as const).sort((a, b) => b[1] - a[1]).slice(0, 4);
  console.log(name, errs.map(([i, e, o, t]) => `ch${i} err ${e.toExponential(2)} ours ${o.toExponential(3)} theirs ${t.toExponential(3)}`).join(' | '));
}
for (const n of ['layer2.3.bn1.running_var', 'layer2.3.bn1.weight', 'layer2.2.bn2.running_var']) {
  const w = rawToTensor(fixture.weights.get(n)!).dataSync();
  console.log(n, Array.from(w).slice(0, 32).map(v => v.toExponential(1)).join(' '));
}
