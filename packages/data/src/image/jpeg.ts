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

/** The bytes of an image file listed in a dataset, or the problem that names it. */
export function readImageFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    throw missingImage(path);
  }
}

export function missingImage(path: string): ImageFileProblem {
  return new ImageFileProblem(`Missing image ${path}: it was listed when the dataset was loaded but cannot be read now. Reload the dataset.`, 'missing', path, 'a JPEG file', 'nothing');
}

/** Throws unless `bytes` start like a JPEG (ff d8), saying what the file looks like instead. */
export function checkJpegStart(path: string, bytes: Uint8Array): void {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) {
    const found = bytes.length === 0 ? 'an empty file' : describeStart(bytes);
    throw new ImageFileProblem(`${path} is not a JPEG file (it starts like ${found}). Convert it to JPEG or remove it from the class folder.`, 'format', path, 'a JPEG file (starting ff d8)', found);
  }
}

/** How far from the end of a file the end-of-image marker may sit (some writers append padding or metadata). */
const END_MARKER_WINDOW = 1024;

/**
 * Throws unless the file has its end-of-image marker (ff d9) near its end. A truncated file must
 * fail however it is decoded: libvips reads a JPEG only as far as the requested crop needs, so
 * without this check a crop near the top of a cut file would decode. (ff d9 cannot occur inside
 * entropy-coded data, where every ff is followed by 00 or a restart marker.)
 */
export function checkJpegEnd(path: string, bytes: Uint8Array): void {
  for (let i = bytes.length - 2; i >= Math.max(2, bytes.length - END_MARKER_WINDOW); i--) if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return;
  throw new ImageFileProblem(
    `${path} is truncated: it does not end with the JPEG end-of-image marker (ff d9) after ${bytes.length} bytes. Replace it with a good copy, remove it, or create the loader with badImages: 'skip'.`,
    'format',
    path,
    'a complete JPEG (ending ff d9)',
    `${bytes.length} bytes without an end-of-image marker`,
  );
}

/** A JPEG that starts right but does not decode (truncated, corrupt entropy data, a bad header). */
export function undecodableJpeg(path: string, reason: string): ImageFileProblem {
  return new ImageFileProblem(`${path} does not decode as a JPEG (${reason}). Replace it with a good copy, remove it, or create the loader with badImages: 'skip'.`, 'format', path, 'a decodable JPEG', reason);
}

/** Decodes a JPEG file to RGB with jpeg-js (grayscale and CMYK files are converted), naming the file on failure. */
export function decodeJpegFile(path: string): RgbImage {
  const bytes = readImageFile(path);
  checkJpegStart(path, bytes);
  checkJpegEnd(path, bytes);
  try {
    const image = decode(bytes, { useTArray: true, formatAsRGBA: false });
    return { data: image.data, height: image.height, width: image.width };
  } catch (error) {
    throw undecodableJpeg(path, (error as Error).message);
  }
}
