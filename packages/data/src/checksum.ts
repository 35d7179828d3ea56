import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ChecksumError, DatasetNotFoundError } from './errors.js';

/**
 * md5s already computed in this process, keyed by path, size and modification time: hashing the
 * 180 MB of CIFAR-10 takes about a second, so a second `verify` of an unchanged file is free.
 */
const computed = new Map<string, string>();

export async function md5File(path: string): Promise<string> {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    throw new DatasetNotFoundError(`Cannot checksum ${path}: the file does not exist. Check the path or download the dataset again.`, {
      file: path,
      expected: 'a file',
      found: 'nothing',
    });
  }
  const key = `${path}\0${stats.size}\0${stats.mtimeMs}`;
  const known = computed.get(key);
  if (known) return known;
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  computed.set(key, digest);
  return digest;
}

/** Reads an `md5sum`-style file (`<hex>  <name>` per line) into a map from file name to md5. */
export function readMd5Sums(path: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const match = /^([0-9a-fA-F]{32})\s+\*?(.+?)\s*$/.exec(line);
    if (match) sums.set(match[2]!, match[1]!.toLowerCase());
  }
  return sums;
}

export function formatMd5Sums(entries: Iterable<readonly [name: string, md5: string]>): string {
  return [...entries].map(([name, md5]) => `${md5}  ${name}\n`).join('');
}

/**
 * Checks `files` (absolute paths) against every checksum known for them: the `MD5SUMS` file beside
 * them, when there is one, and their published `md5`. A file with no known checksum at all is an
 * error rather than silently "verified".
 */
export async function verifyFiles(files: readonly { path: string; md5?: string }[]): Promise<void> {
  const sumsByFolder = new Map<string, Map<string, string> | undefined>();
  for (const file of files) {
    const folder = dirname(file.path);
    if (!sumsByFolder.has(folder)) {
      const sumsPath = join(folder, 'MD5SUMS');
      sumsByFolder.set(folder, existsSync(sumsPath) ? readMd5Sums(sumsPath) : undefined);
    }
    const listed = sumsByFolder.get(folder)?.get(basename(file.path));
    const expectations = [
      ...(listed ? [{ md5: listed, from: `${join(folder, 'MD5SUMS')}` }] : []),
      ...(file.md5 ? [{ md5: file.md5, from: 'the published checksum' }] : []),
    ];
    if (expectations.length === 0) {
      throw new ChecksumError(
        `No checksum is known for ${file.path}: it has no line in an MD5SUMS file beside it and no published md5. ` +
          'Add an MD5SUMS line for it, or load with verify: false.',
        { file: file.path, expected: 'a known md5', found: 'none' },
      );
    }
    const actual = await md5File(file.path);
    for (const expectation of expectations) {
      if (actual !== expectation.md5) {
        throw new ChecksumError(
          `${file.path} is corrupt or not the official file: its md5 is ${actual}, ${expectation.from} says ${expectation.md5}. ` +
            'Delete it and download the dataset again.',
          { file: file.path, expected: expectation.md5, found: actual },
        );
      }
    }
  }
}
