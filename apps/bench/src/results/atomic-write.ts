import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { rename, rm, writeFile } from 'node:fs/promises';

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
