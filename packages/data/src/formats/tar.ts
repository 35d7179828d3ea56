import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { createGunzip } from 'node:zlib';
import { DatasetFormatError } from '../errors.js';

/**
 * A streaming reader for tar archives (POSIX ustar, GNU long names, pax `path` records), enough for
 * the official dataset archives. It extracts regular files and folders, skips links and devices,
 * and refuses entries that would land outside the destination.
 */

export interface ExtractedFile {
  /** Path relative to the destination, with `/` separators. */
  path: string;
  size: number;
  md5: string;
}

const BLOCK = 512;

/** Hands out exact byte counts from a stream of chunks of any size. */
class ChunkReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(bytes: number): Promise<void> {
    while (this.buffered < bytes && !this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
      else if (next.value.length > 0) {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
  }

  private take(bytes: number): Buffer {
    const count = Math.min(bytes, this.buffered);
    const first = this.chunks[0];
    if (first && first.length >= count) {
      this.chunks[0] = first.subarray(count);
      if (this.chunks[0].length === 0) this.chunks.shift();
      this.buffered -= count;
      return first.subarray(0, count);
    }
    const out = Buffer.allocUnsafe(count);
    let written = 0;
    while (written < count) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, count - written);
      chunk.copy(out, written, 0, used);
      written += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    this.buffered -= count;
    return out;
  }

  /** Exactly `bytes` bytes, or fewer only at the end of the stream. */
  async read(bytes: number): Promise<Buffer> {
    await this.fill(bytes);
    return this.take(bytes);
  }

  /** Between 1 and `bytes` bytes (whatever is at hand), or an empty buffer at the end. */
  async readSome(bytes: number): Promise<Buffer> {
    if (this.buffered === 0) await this.fill(1);
    return this.take(bytes);
  }
}

function readString(header: Buffer, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

function readNumber(header: Buffer, offset: number, length: number): number {
  // GNU base-256 for values too large for octal digits.
  if (header[offset]! & 0x80) {
    let value = header[offset]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + header[offset + i]!;
    return value;
  }
  const text = readString(header, offset, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function parsePax(body: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const length = parseInt(body.subarray(offset, space).toString('ascii'), 10);
    if (!(length > 0)) break;
    const record = body.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    offset += length;
  }
  return records;
}

function formatError(archive: string, problem: string, expected: string, found: string): DatasetFormatError {
  return new DatasetFormatError(`${archive} is not a valid tar archive: ${problem} (expected ${expected}, found ${found}). Delete it and download it again.`, {
    file: archive,
    expected,
    found,
  });
}

/**
 * Extracts the tar stream `source` into `destination`, hashing every file as it is written.
 * `archive` names the archive in errors.
 */
export async function extractTar(source: AsyncIterable<Buffer>, destination: string, archive: string): Promise<ExtractedFile[]> {
  const reader = new ChunkReader(source[Symbol.asyncIterator]());
  const files: ExtractedFile[] = [];
  let longName: string | undefined;
  let paxPath: string | undefined;

  const readBody = async (size: number, entry: string): Promise<Buffer> => {
    const body = await reader.read(size);
    if (body.length < size) throw formatError(archive, `the archive ends inside "${entry}"`, `${size} bytes`, `${body.length}`);
    await reader.read((BLOCK - (size % BLOCK)) % BLOCK);
    return body;
  };

  for (;;) {
    const header = await reader.read(BLOCK);
    // Some writers omit the two zero blocks that end an archive; a clean end between entries is an end.
    if (header.length === 0) break;
    if (header.length < BLOCK) throw formatError(archive, 'the archive ends inside a header', `${BLOCK} bytes`, `${header.length}`);
    if (header.every((byte) => byte === 0)) break;

    let checksum = 0;
    for (let i = 0; i < BLOCK; i++) checksum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    const recorded = readNumber(header, 148, 8);
    if (checksum !== recorded) throw formatError(archive, 'a header checksum does not match', `${recorded}`, `${checksum}`);

    const type = String.fromCharCode(header[156]!);
    const size = readNumber(header, 124, 12);
    const prefix = header.subarray(257, 262).toString('latin1') === 'ustar' ? readString(header, 345, 155) : '';
    const storedName = readString(header, 0, 100);
    const name = paxPath ?? longName ?? (prefix ? `${prefix}/${storedName}` : storedName);
    paxPath = undefined;
    longName = undefined;

    if (type === 'L') {
      longName = readString(await readBody(size, 'a GNU long name'), 0, size);
      continue;
    }
    if (type === 'x') {
      paxPath = parsePax(await readBody(size, 'a pax header')).get('path');
      continue;
    }

    const relative = normalize(name).split(sep).join('/').replace(/\/+$/, '');
    if (isAbsolute(name) || relative === '..' || relative.startsWith('../')) {
      throw formatError(archive, `the entry "${name}" would be written outside the destination`, 'a relative path inside it', name);
    }
    const target = join(destination, relative);

    if (type === '5') {
      await mkdir(target, { recursive: true });
      await readBody(size, name);
    } else if (type === '0' || type === '\0' || type === '7') {
      await mkdir(dirname(target), { recursive: true });
      const hash = createHash('md5');
      const handle = await open(target, 'w');
      try {
        let remaining = size;
        while (remaining > 0) {
          const chunk = await reader.readSome(Math.min(remaining, 1 << 20));
          if (chunk.length === 0) throw formatError(archive, `the archive ends inside "${name}"`, `${size} bytes`, `${size - remaining}`);
          await handle.write(chunk);
          hash.update(chunk);
          remaining -= chunk.length;
        }
      } finally {
        await handle.close();
      }
      await reader.read((BLOCK - (size % BLOCK)) % BLOCK);
      files.push({ path: relative, size, md5: hash.digest('hex') });
    } else {
      // Links, devices, global pax headers: nothing the datasets need.
      await readBody(size, name);
    }
  }
  return files;
}

/** Extracts a `.tar.gz` (or plain `.tar`) file into `destination`. */
export async function extractArchive(archivePath: string, destination: string): Promise<ExtractedFile[]> {
  const handle = await open(archivePath, 'r');
  const magic = Buffer.alloc(2);
  try {
    await handle.read(magic, 0, 2, 0);
  } finally {
    await handle.close();
  }
  const gzipped = magic[0] === 0x1f && magic[1] === 0x8b;
  const stream = gzipped ? createReadStream(archivePath).pipe(createGunzip()) : createReadStream(archivePath);
  try {
    return await extractTar(stream as AsyncIterable<Buffer>, destination, archivePath);
  } catch (error) {
    if (error instanceof DatasetFormatError) throw error;
    // zlib reports a damaged or cut gzip stream ("unexpected end of file", "incorrect header check").
    throw formatError(archivePath, `the gzip stream is damaged (${(error as Error).message})`, 'a complete gzip stream', 'a damaged one');
  } finally {
    stream.destroy();
  }
}

