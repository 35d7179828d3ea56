import { readFileSync } from 'node:fs';
import { decode } from 'jpeg-js';

/**
 * A file that cannot be read or decoded. A plain Error (not a DataError) because this module runs
 * in the loader's worker threads, which do not load @mlaan/core; the loader turns it into a
 * DatasetNotFoundError (`missing`) or DatasetFormatError (`format`).
 */
export class ImageFileProblem extends Error {
  constructor(
    message: string,
    readonly kind: 'missing' | 'format',
    readonly file: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(message);
    this.name = 'ImageFileProblem';
  }
}

export interface RgbImage {
  /** HWC, RGB. */
  data: Uint8Array;
  height: number;
  width: number;
}

const signatures: [number[], string][] = [
  [[0x89, 0x50, 0x4e, 0x47], 'a PNG image'],
  [[0x47, 0x49, 0x46], 'a GIF image'],
  [[0x42, 0x4d], 'a BMP image'],
  [[0x52, 0x49, 0x46, 0x46], 'a RIFF (WebP?) file'],
];

function describeStart(bytes: Uint8Array): string {
  for (const [signature, kind] of signatures) if (signature.every((byte, i) => bytes[i] === byte)) return kind;
  return `bytes ${[...bytes.subarray(0, 4)].map((byte) => byte.toString(16).padStart(2, '0')).join(' ')}`;
}

/** Decodes a JPEG file to RGB (grayscale and CMYK files are converted), naming the file on failure. */
export function decodeJpegFile(path: string): RgbImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new ImageFileProblem(`Missing image ${path}: it was listed when the dataset was loaded but cannot be read now. Reload the dataset.`, 'missing', path, 'a JPEG file', 'nothing');
  }
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) {
    const found = bytes.length === 0 ? 'an empty file' : describeStart(bytes);
    throw new ImageFileProblem(`${path} is not a JPEG file (it starts like ${found}). Convert it to JPEG or remove it from the class folder.`, 'format', path, 'a JPEG file (starting ff d8)', found);
  }
  try {
    const image = decode(bytes, { useTArray: true, formatAsRGBA: false });
    return { data: image.data, height: image.height, width: image.width };
  } catch (error) {
    const reason = (error as Error).message;
    throw new ImageFileProblem(`${path} does not decode as a JPEG (${reason}). Replace it with a good copy or remove it.`, 'format', path, 'a decodable JPEG', reason);
  }
}
