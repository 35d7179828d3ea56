import { join } from 'node:path';
import { DatasetFormatError } from '../errors.js';
import { type MatArray, readMatFile } from '../formats/matlab.js';
import { type ImageArrays, sharedBytes } from '../types.js';
import { labelOutOfRange, readWholeFile } from './common.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;

/**
 * Reads an SVHN cropped-digits file (`train_32x32.mat`, `test_32x32.mat`): `X` is uint8
 * 32×32×3×N (column-major), `y` is N×1 with labels 1-10, where 10 stands for the digit 0.
 */
export function readSvhn(folder: string, file: string): ImageArrays {
  const path = join(folder, file);
  const variables = readMatFile(readWholeFile(path, 'an SVHN .mat file'), path);
  const fail = (problem: string, expected: string, found: string): never => {
    throw new DatasetFormatError(`${path} is not an SVHN cropped-digits file: ${problem} (expected ${expected}, found ${found}). Delete it and download it again.`, {
      file: path,
      expected,
      found,
    });
  };
  const describe = (array: MatArray | undefined) => (array ? `${array.className} ${array.dimensions.join('×')}` : 'no such variable');

  const x = variables.get('X');
  const y = variables.get('y');
  if (!x || x.className !== 'uint8' || !x.real || x.dimensions.length !== 4 || x.dimensions[0] !== SIDE || x.dimensions[1] !== SIDE || x.dimensions[2] !== 3) {
    fail('variable X', 'uint8 32×32×3×N', describe(x));
  }
  const count = x!.dimensions[3]!;
  if (!y || !y.real || y.dimensions.length !== 2 || Math.min(...y.dimensions) !== 1) fail('variable y', `N×1 labels`, describe(y));
  if (y!.real!.length !== count) fail('the record counts of X and y differ', `${count} labels (one per image in X)`, `${y!.real!.length}`);

  const labels = new Int32Array(count);
  const values = y!.real!;
  for (let i = 0; i < count; i++) {
    const value = values[i]!;
    if (!Number.isInteger(value) || value < 1 || value > 10) throw labelOutOfRange(path, i, value, '1-10');
    labels[i] = value === 10 ? 0 : value;
  }

  // Column-major X(row, column, channel, n) to HWC.
  const source = x!.real! as Uint8Array;
  const images = sharedBytes(count * 3 * PLANE);
  for (let n = 0; n < count; n++) {
    const base = n * 3 * PLANE;
    let target = base;
    for (let row = 0; row < SIDE; row++) {
      for (let column = 0; column < SIDE; column++) {
        const pixel = base + column * SIDE + row;
        images[target++] = source[pixel]!;
        images[target++] = source[pixel + PLANE]!;
        images[target++] = source[pixel + 2 * PLANE]!;
      }
    }
  }
  return { images, labels, height: SIDE, width: SIDE };
}
