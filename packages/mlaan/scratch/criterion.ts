import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@mlaan/core';
import { loadFixture, compareTensors, relativeError, RawTensor, Fixture } from '../../parity/src/index.ts';
import { createMlaanReferenceRunner } from '../../parity/src/runners/mlaan.ts';
import { linearHost } from '../../lam/src/test-support.ts';
await selectBackend(process.argv[2] ?? 'wasm', { log: () => {} });
const fixture = await loadFixture('/work/shared/golden/mlaan-reference-resnet32-k8');
const runner = createMlaanReferenceRunner({ host: () => linearHost(), headPrefix: 'head' });
function perturbed(fixture: Fixture, epsilon: number, seed: number): Fixture {
  const images = fixture.batch.get('images')!;
  const data = Float32Array.from(images.data as Float32Array);
  let state = seed;
  for (let i = 0; i < data.length; i++) { state = (state * 1103515245 + 12345) % 2147483648; data[i] = data[i]! * (1 + epsilon * (state / 2147483648 - 0.5)); }
  const batch = new Map(fixture.batch); batch.set('images', { ...images, data } as RawTensor); return { ...fixture, batch };
}
const t0 = Date.now(); const produced = await runner.run(fixture); console.log("run ms", Date.now() - t0);
const rows = compareTensors(fixture.expected, produced, 1e-4);
const sens = new Map<string, number>();
for (const seed of [1, 2, 3]) {
  const other = await runner.run(perturbed(fixture, 1e-7, seed));
  for (const [n, t] of produced) sens.set(n, Math.max(sens.get(n) ?? 0, relativeError(other.get(n)!.dataSync() as Float32Array, t.dataSync() as Float32Array)));
}
const beyond = rows.filter(r => r.relativeError > Math.max(1e-4, 2 * sens.get(r.name)!));
console.log('fail@1e-4', rows.filter(r => !r.ok).length, 'beyond', beyond.length, 'max', Math.max(...rows.map(r => r.relativeError)).toExponential(2));
for (const r of [...rows].sort((a, b) => b.relativeError - a.relativeError).slice(0, 12)) console.log("top", r.name, r.relativeError.toExponential(2), "sens", sens.get(r.name)!.toExponential(2));
for (const r of beyond) console.log(r.name, r.relativeError.toExponential(2), 'sens', sens.get(r.name)!.toExponential(2));
