import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, rawToTensor } from '@mlaan/core';
import { loadFixture } from '../parity/src/index.js';
import { infoproRunner } from '../parity/src/runners/infopro.js';
await selectBackend((process.argv[2] ?? 'wasm') as 'wasm', { log: () => {} });
const fixture = await loadFixture('/work/shared/golden/infopro-resnet32-k4');
const produced = await infoproRunner.run(fixture);
for (const name of ['grad.infopro.0.decoder.decoder.0.bias', 'grad.infopro.2.decoder.decoder.0.bias', 'grad.infopro.0.decoder.decoder.0.weight', 'grad.layer2.3.bn1.bias', 'grad.layer2.3.bn1.weight', 'grad.layer2.4.bn1.bias']) {
  const ours = produced.get(name)!.dataSync();
  const theirs = rawToTensor(fixture.expected.get(name)!).dataSync();
  const maxT = Math.max(...Array.from(theirs).map(Math.abs));
  console.log(name, 'max|theirs|', maxT.toExponential(2), 'max|ours|', Math.max(...Array.from(ours).map(Math.abs)).toExponential(2));
  if (ours.length <= 64) console.log('  ours  ', Array.from(ours).slice(0, 16).map(v => v.toExponential(2)).join(' '), '\n  theirs', Array.from(theirs).slice(0, 16).map(v => v.toExponential(2)).join(' '));
}
// layer2.3 input stats: run modules to see BN1 batch variance of layer2.3
