import { join } from 'node:path';
import { DatasetFormatError } from '../errors.js';
import { type ImageArrays, sharedBytes } from '../types.js';
import { fileSize, labelOutOfRange, readWholeFile } from './common.js';

/** STL-10 binary layout: per image, three 96×96 planes (red, green, blue), each column-major. */
const SIDE = 96;
const PLANE = SIDE * SIDE;
const IMAGE = 3 * PLANE;

/** Reads `<split>_X.bin` and `<split>_y.bin` into HWC images and labels 0-9 (the files store 1-10). */
export function readStl10(folder: string, imagesFile: string, labelsFile: string): ImageArrays {
  const imagesPath = join(folder, imagesFile);
  const labelsPath = join(folder, labelsFile);
  const imagesSize = fileSize(imagesPath, 'an STL-10 image file');
  const count = fileSize(labelsPath, 'an STL-10 label file');
  if (imagesSize !== count * IMAGE) {
    const whole = Math.floor(imagesSize / IMAGE);
    const problem = imagesSize < count * IMAGE ? 'truncated' : 'oversized';
    throw new DatasetFormatError(
      `${imagesPath} is ${problem} or does not match ${labelsPath}: expected ${count * IMAGE} bytes (${count} images of ${IMAGE} bytes, one per label), ` +
        `found ${imagesSize} bytes (${whole} whole images${imagesSize % IMAGE ? ` and ${imagesSize % IMAGE} bytes over` : ''}). Delete both files and download the dataset again.`,
      { file: imagesPath, expected: `${count} images (${count * IMAGE} bytes)`, found: `${imagesSize} bytes` },
    );
  }
  const labelBytes = readWholeFile(labelsPath, 'an STL-10 label file');
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const value = labelBytes[i]!;
    if (value < 1 || value > 10) throw labelOutOfRange(labelsPath, i, value, '1-10');
    labels[i] = value - 1;
  }
  const source = readWholeFile(imagesPath, 'an STL-10 image file');
  const images = sharedBytes(count * IMAGE);
  for (let n = 0; n < count; n++) {
    const base = n * IMAGE;
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
