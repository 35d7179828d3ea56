import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { ResultsFolderError } from '../errors.js';

// The files of a results folder: written whole or not at all, read back with a message that says what to do.

/**
 * Writes `content` to a temporary file beside `path`, then renames it into place: a reader sees
 * the old file or the new one, never half of one. The temporary name holds the host, the process
 * and a random part, because shards on several machines may write into one shared results folder
 * (a network file system), where process ids alone collide.
 */
export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const temporary = `${path}.partial-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temporary, content);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * The parsed JSON of a results folder's file, or undefined when there is none; a file that is not
 * JSON is an error whose message ends with `fix`.
 */
export async function readJsonFile(path: string, fix: string): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ResultsFolderError(`${path} is not valid JSON (${(error as Error).message}). ${fix}`);
  }
}
