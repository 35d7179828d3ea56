import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@mlaan/core';
import { loadFixture, compareTensors, RawTensor } from '../../parity/src/index.ts';
import { createMlaanReferenceRunner } from '../../parity/src/runners/mlaan.ts';
import { linearHost } from '../../lam/src/test-support.ts';
await selectBackend(process.argv[2] ?? 'wasm', { log: () => {} });
const fixture = await loadFixture('/work/shared/golden/mlaan-reference-resnet32-k8');
const runner = createMlaanReferenceRunner({ host: () => linearHost(), headPrefix: 'head' });
const a = await runner.run(fixture);
const images = fixture.batch.get('images')!;
const data = Float32Array.from(images.data as Float32Array);
let seed = 1; for (let i = 0; i < data.length; i++) { seed = (seed * 1103515245 + 12345) % 2147483648; data[i]! *= 1 + Number(process.argv[3] ?? 1e-6) * (seed / 2147483648 - 0.5); }
fixture.batch.set('images', { ...images, data } as RawTensor);
const b = await runner.run(fixture);
const asRaw = new Map([...a].map(([n, t]) => [n, { dtype: 'F32', shape: t.shape, data: t.dataSync() } as unknown as RawTensor]));
const rows = compareTensors(asRaw, b, 1e-4);
console.log('perturbed vs unperturbed: bad', rows.filter(r => !r.ok).length, 'of', rows.length, 'max', Math.max(...rows.map(r => r.relativeError)).toExponential(2));
for (const r of [...rows].sort((x, y) => y.relativeError - x.relativeError).slice(0, 6)) console.log(r.name, r.relativeError.toExponential(2));
