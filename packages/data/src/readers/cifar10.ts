import { join } from 'node:path';
import { type ImageArrays, sharedBytes } from '../types.js';
import { checkFileSize, fileSize, labelOutOfRange, readWholeFile } from './common.js';

/** The CIFAR-10 binary layout: per record, 1 label byte then 32×32 red, green, blue planes. */
export const CIFAR10_RECORDS_PER_FILE = 10_000;
const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;

/** Reads CIFAR-10 `.bin` batch files, in order, into HWC images and labels 0-9. */
export function readCifar10(folder: string, files: readonly string[]): ImageArrays {
  const paths = files.map((file) => join(folder, file));
  // Check every size before reading anything: a cut file should fail fast, not after 150 MB.
  for (const path of paths) {
    checkFileSize(path, fileSize(path, 'a CIFAR-10 batch file'), CIFAR10_RECORDS_PER_FILE * RECORD, `${CIFAR10_RECORDS_PER_FILE} records of ${RECORD} bytes`);
  }
  const count = paths.length * CIFAR10_RECORDS_PER_FILE;
  const images = sharedBytes(count * 3 * PLANE);
  const labels = new Int32Array(count);
  paths.forEach((path, fileIndex) => {
    const bytes = readWholeFile(path, 'a CIFAR-10 batch file');
    for (let record = 0; record < CIFAR10_RECORDS_PER_FILE; record++) {
      const source = record * RECORD;
      const label = bytes[source]!;
      if (label > 9) throw labelOutOfRange(path, record, label, '0-9');
      const example = fileIndex * CIFAR10_RECORDS_PER_FILE + record;
      labels[example] = label;
      // CHW planes to interleaved HWC.
      let target = example * 3 * PLANE;
      for (let pixel = source + 1; pixel < source + 1 + PLANE; pixel++) {
        images[target++] = bytes[pixel]!;
        images[target++] = bytes[pixel + PLANE]!;
        images[target++] = bytes[pixel + 2 * PLANE]!;
      }
    }
  });
  return { images, labels, height: SIDE, width: SIDE };
}
