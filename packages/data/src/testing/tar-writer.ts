import { gzipSync } from 'node:zlib';

/**
 * Writes ustar archives like GNU tar does, so tests can build small copies of the official
 * dataset archives: a folder entry, then one header + padded body per file, then two zero blocks.
 * Names longer than 100 bytes get a GNU long-name entry.
 */
export interface TarEntry {
  path: string;
  data?: Uint8Array;
  /** A folder entry instead of a file. */
  folder?: boolean;
}

function header(name: string, size: number, type: string): Buffer {
  const block = Buffer.alloc(512);
  block.write(name.slice(0, 100), 0, 'utf8');
  block.write('0000644\0', 100, 'ascii');
  block.write('0000000\0', 108, 'ascii');
  block.write('0000000\0', 116, 'ascii');
  block.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  block.write('14000000000\0', 136, 'ascii');
  block.write(type, 156, 'ascii');
  block.write('ustar  \0', 257, 'ascii');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return block;
}

function padded(data: Uint8Array): Buffer {
  const padding = (512 - (data.length % 512)) % 512;
  return Buffer.concat([Buffer.from(data), Buffer.alloc(padding)]);
}

export function writeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const name = entry.folder && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
    if (Buffer.byteLength(name) > 100) {
      const longName = Buffer.from(`${name}\0`);
      parts.push(header('././@LongLink', longName.length, 'L'), padded(longName));
    }
    const data = entry.data ?? new Uint8Array(0);
    parts.push(header(name, entry.folder ? 0 : data.length, entry.folder ? '5' : '0'));
    if (!entry.folder) parts.push(padded(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function writeTarGz(entries: readonly TarEntry[]): Buffer {
  return gzipSync(writeTar(entries));
}
