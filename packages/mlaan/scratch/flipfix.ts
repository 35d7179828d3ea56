import { selectBackend } from '@mlaan/core';
import { loadFixture, compareTensors, RawTensor } from '../../parity/src/index.ts';
import { createMlaanReferenceRunner } from '../../parity/src/runners/mlaan.ts';
import { linearHost } from '../../lam/src/test-support.ts';
await selectBackend(process.argv[2] ?? 'wasm', { log: () => {} });
const fixture = await loadFixture('/work/shared/golden/mlaan-reference-resnet32-k8');
// name:channel:delta ...
for (const spec of process.argv.slice(3)) {
  const [name, ch, delta] = spec.split(':');
  const raw = fixture.weights.get(name!)!;
  const data = Float32Array.from(raw.data as Float32Array);
  data[Number(ch)]! += Number(delta);
  fixture.weights.set(name!, { ...raw, data } as RawTensor);
}
const runner = createMlaanReferenceRunner({ host: () => linearHost(), headPrefix: 'head' });
const out = await runner.run(fixture);
const rows = compareTensors(fixture.expected, out, 1e-4);
console.log(process.argv.slice(3).join(' '), '| bad', rows.filter(r => !r.ok).length, 'max', Math.max(...rows.map(r => r.relativeError)).toExponential(2));
for (const n of ['grad.layer1.0.conv1.weight','grad.layer1.1.conv1.weight', 'grad.layer1.3.conv1.weight', 'grad.layer2.0.conv1.weight', 'grad.layer2.2.conv1.weight', 'grad.layer3.0.conv1.weight', 'grad.layer3.3.conv1.weight', 'grad.lam.3.blocks.0.conv1.weight', 'grad.lam.5.blocks.2.conv2.weight'])
  console.log('  ', n, rows.find(r => r.name === n)!.relativeError.toExponential(2));
