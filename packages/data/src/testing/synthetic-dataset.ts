import { datasetSpecs, type DatasetName } from '../specs.js';
import type { ArrayDataset } from '../types.js';

/** A small in-memory dataset whose pixel (n, y, x, c) is (n*16 + y*5 + x*3 + c*50) mod 256, label n mod 10. */
export function syntheticDataset(count: number, name: DatasetName = 'cifar10', side = 32): ArrayDataset {
  const images = new Uint8Array(new SharedArrayBuffer(count * side * side * 3));
  for (let n = 0; n < count; n++)
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) for (let c = 0; c < 3; c++) images[((n * side + y) * side + x) * 3 + c] = (n * 16 + y * 5 + x * 3 + c * 50) % 256;
  return {
    kind: 'array',
    name,
    split: 'train',
    folder: '(memory)',
    count,
    height: side,
    width: side,
    classes: datasetSpecs[name].classes,
    labels: Int32Array.from({ length: count }, (_, i) => i % 10),
    normalization: datasetSpecs[name].normalization,
    images,
  };
}
