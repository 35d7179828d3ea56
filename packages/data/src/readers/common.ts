import { readFileSync, statSync } from 'node:fs';
import { DatasetFormatError, DatasetNotFoundError } from '../errors.js';

/** The size of `path`, or a DatasetNotFoundError that names it. */
export function fileSize(path: string, what: string): number {
  try {
    const stats = statSync(path);
    if (!stats.isFile()) throw new Error('not a file');
    return stats.size;
  } catch {
    throw new DatasetNotFoundError(
      `Missing ${what}: ${path} does not exist. Point dataDir (or MLAAN_DATA_DIR) at the folder that holds the dataset, or load with download: true.`,
      { file: path, expected: what, found: 'nothing' },
    );
  }
}

export function readWholeFile(path: string, what: string): Buffer {
  fileSize(path, what);
  return readFileSync(path);
}

/** Throws unless `size` is exactly `expected`; the message says whether the file is cut or too long. */
export function checkFileSize(path: string, size: number, expected: number, layout: string): void {
  if (size === expected) return;
  const problem = size < expected ? 'truncated' : 'oversized';
  throw new DatasetFormatError(
    `${path} is ${problem}: expected ${expected} bytes (${layout}), found ${size} bytes. Delete it and download the dataset again.`,
    { file: path, expected: `${expected} bytes`, found: `${size} bytes` },
  );
}

/** Reads class names, one per line, when the file exists; `undefined` when it does not. */
export function readClassNames(path: string, expectedCount: number): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const names = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line.length > 0);
  if (names.length !== expectedCount) {
    throw new DatasetFormatError(`${path} should list ${expectedCount} class names, one per line, but lists ${names.length}. Restore it from the official archive.`, {
      file: path,
      expected: `${expectedCount} names`,
      found: `${names.length}`,
    });
  }
  return names;
}

export function labelOutOfRange(path: string, record: number, value: number, range: string): DatasetFormatError {
  return new DatasetFormatError(
    `${path} is corrupt: record ${record} has label ${value}, outside ${range}. Delete it and download the dataset again.`,
    { file: path, expected: `a label in ${range}`, found: `${value}` },
  );
}
