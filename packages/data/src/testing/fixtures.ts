import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { writeMatFile } from './matlab-writer.js';

/** The shared datasets: $MLAAN_DATA_DIR, else ../shared/datasets beside the repository. */
export const sharedDataDir = process.env.MLAAN_DATA_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/datasets');

/** A fresh temporary folder, removed when the test file ends. */
export function temporaryFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'mlaan-data-test-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));
  return folder;
}

/** A deterministic pixel value for (example, row, column, channel), so layouts can be checked exactly. */
export function pixel(example: number, row: number, column: number, channel: number): number {
  return (example * 37 + row * 7 + column * 3 + channel * 101) % 256;
}

/** STL-10 `_X.bin` bytes: per image, channel planes, each column-major (row index fastest). */
export function stl10ImageBytes(count: number, side = 96): Uint8Array {
  const bytes = new Uint8Array(count * 3 * side * side);
  let i = 0;
  for (let n = 0; n < count; n++)
    for (let channel = 0; channel < 3; channel++)
      for (let column = 0; column < side; column++)
        for (let row = 0; row < side; row++) bytes[i++] = pixel(n, row, column, channel);
  return bytes;
}

/** An SVHN `.mat` file: X uint8 32×32×3×N column-major, y double N×1 with 10 for the digit 0. */
export function svhnMatFile(labels: readonly number[], options: { compress?: boolean; labelsAsUint8?: boolean } = {}): Buffer {
  const count = labels.length;
  const x = new Uint8Array(32 * 32 * 3 * count);
  let i = 0;
  for (let n = 0; n < count; n++)
    for (let channel = 0; channel < 3; channel++)
      for (let column = 0; column < 32; column++)
        for (let row = 0; row < 32; row++) x[i++] = pixel(n, row, column, channel);
  return writeMatFile([
    { name: 'X', className: 'uint8', dimensions: [32, 32, 3, count], data: x, compress: options.compress },
    {
      name: 'y',
      className: 'double',
      dimensions: [count, 1],
      data: labels.map((digit) => (digit === 0 ? 10 : digit)),
      storeAs: options.labelsAsUint8 ? 'miUINT8' : 'miDOUBLE',
      compress: options.compress,
    },
  ]);
}

/** Bitwise equality of two typed arrays (vitest's deep equality is slow on 100,000s of elements). */
export function sameValues(a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }, b: typeof a): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}
