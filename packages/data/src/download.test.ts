import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChecksumError,
  createProgressBar,
  DatasetFormatError,
  downloadDataset,
  downloadFile,
  DownloadError,
  extractArchive,
  loadDataset,
  type ProgressEvent,
  readMd5Sums,
} from './index.js';
import { stl10ImageBytes, svhnMatFile, temporaryFolder } from './testing/fixtures.js';
import { writeTar, writeTarGz } from './testing/tar-writer.js';

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

/** A small archive laid out like the official stl10_binary.tar.gz. */
const stlArchive = writeTarGz([
  { path: 'stl10_binary', folder: true },
  { path: 'stl10_binary/train_X.bin', data: stl10ImageBytes(3) },
  { path: 'stl10_binary/train_y.bin', data: Uint8Array.from([1, 5, 10]) },
  { path: 'stl10_binary/test_X.bin', data: stl10ImageBytes(2) },
  { path: 'stl10_binary/test_y.bin', data: Uint8Array.from([2, 3]) },
  { path: 'stl10_binary/class_names.txt', data: Buffer.from('airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n') },
]);
const svhnFile = svhnMatFile([1, 0, 7], { compress: true });

/** What the local server does for each path. */
const routes: Record<string, (response: import('node:http').ServerResponse) => void> = {
  '/stl10_binary.tar.gz': (response) => response.writeHead(200, { 'content-length': stlArchive.length }).end(stlArchive),
  '/moved/stl10_binary.tar.gz': (response) => response.writeHead(302, { location: '/stl10_binary.tar.gz' }).end(),
  '/corrupt/stl10_binary.tar.gz': (response) => {
    const corrupt = Buffer.from(stlArchive);
    corrupt[corrupt.length >> 1] ^= 0x55;
    response.writeHead(200, { 'content-length': corrupt.length }).end(corrupt);
  },
  '/cut/stl10_binary.tar.gz': (response) => {
    // Promise the whole archive, send half, then drop the connection.
    response.writeHead(200, { 'content-length': stlArchive.length });
    response.write(stlArchive.subarray(0, stlArchive.length >> 1), () => setTimeout(() => response.socket?.destroy(), 20));
  },
  '/test_32x32.mat': (response) => response.writeHead(200, { 'content-length': svhnFile.length }).end(svhnFile),
};

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    const route = routes[request.url ?? ''];
    if (route) route(response);
    else response.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Every path under `folder`, relative. */
function listAll(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder, { recursive: true }).map(String).sort();
}

describe('downloading a dataset from a local server', () => {
  const root = temporaryFolder();

  it('downloads, verifies, extracts and loads STL-10, writing MD5SUMS and leaving no temporary files', async () => {
    const dataDir = join(root, 'ok');
    const events: ProgressEvent[] = [];
    const dataset = await loadDataset({
      name: 'stl10',
      dataDir,
      download: true,
      source: { url: `${base}/moved/stl10_binary.tar.gz`, md5: md5(stlArchive) },
      progress: (event) => events.push(event),
    });
    expect(dataset.count).toBe(3);
    expect(Array.from(dataset.labels)).toEqual([0, 4, 9]);
    const folder = join(dataDir, 'stl10', 'stl10_binary');
    expect(dataset.folder).toBe(folder);
    expect(listAll(join(dataDir, 'stl10'))).toEqual(
      ['', '/MD5SUMS', '/class_names.txt', '/test_X.bin', '/test_y.bin', '/train_X.bin', '/train_y.bin'].map((file) => `stl10_binary${file}`),
    );
    expect(readMd5Sums(join(folder, 'MD5SUMS')).get('train_y.bin')).toBe(md5(Uint8Array.from([1, 5, 10])));
    expect(events.at(-1)).toMatchObject({ done: true, received: stlArchive.length, total: stlArchive.length });
    // Now present: the test split loads without downloading.
    await expect(loadDataset({ name: 'stl10', split: 'test', dataDir })).resolves.toMatchObject({ count: 2 });
  });

  it('rejects a corrupted archive with a checksum error and keeps nothing', async () => {
    const dataDir = join(root, 'corrupt');
    const error = await loadDataset({
      name: 'stl10',
      dataDir,
      download: true,
      source: { url: `${base}/corrupt/stl10_binary.tar.gz`, md5: md5(stlArchive) },
      progress: false,
    }).catch((caught) => caught);
    expect(error).toBeInstanceOf(ChecksumError);
    expect(error.message).toContain(`${base}/corrupt/stl10_binary.tar.gz`);
    expect(error.expected).toBe(md5(stlArchive));
    expect(listAll(join(dataDir, 'stl10'))).toEqual([]);
  });

  it('reports an interrupted transfer clearly and keeps nothing', async () => {
    const dataDir = join(root, 'cut');
    const error = await loadDataset({
      name: 'stl10',
      dataDir,
      download: true,
      source: { url: `${base}/cut/stl10_binary.tar.gz`, md5: md5(stlArchive) },
      progress: false,
    }).catch((caught) => caught);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.message).toMatch(new RegExp(`stopped after \\d+ of ${stlArchive.length} bytes`));
    expect(error.expected).toBe(`${stlArchive.length} bytes`);
    expect(listAll(join(dataDir, 'stl10'))).toEqual([]);
  });

  it('reports an HTTP error', async () => {
    const error = await downloadDataset({ name: 'stl10', dataDir: join(root, 'missing'), source: { url: `${base}/nothing-here.tar.gz` }, progress: false }).catch((caught) => caught);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.message).toContain('answered HTTP 404');
    expect(listAll(join(root, 'missing', 'stl10'))).toEqual([]);
  });

  it('refuses to download over an incomplete dataset folder', async () => {
    const dataDir = join(root, 'partial');
    mkdirSync(join(dataDir, 'stl10', 'stl10_binary'), { recursive: true });
    await expect(loadDataset({ name: 'stl10', dataDir, download: true, source: { url: `${base}/stl10_binary.tar.gz`, md5: md5(stlArchive) } })).rejects.toThrow(
      /exists but is incomplete .* Delete the folder/,
    );
  });

  it('downloads a single-file dataset (SVHN) to a temporary name, then renames it', async () => {
    const dataDir = join(root, 'svhn');
    const dataset = await loadDataset({ name: 'svhn', split: 'test', dataDir, download: true, source: { url: `${base}/test_32x32.mat`, md5: md5(svhnFile) }, progress: false });
    expect(Array.from(dataset.labels)).toEqual([1, 0, 7]);
    expect(listAll(join(dataDir, 'svhn'))).toEqual(['test_32x32.mat']);
    const wrong = join(root, 'svhn-wrong');
    await expect(downloadFile(`${base}/test_32x32.mat`, join(wrong, 'test_32x32.mat'), { md5: '0'.repeat(32), progress: false })).rejects.toThrow(ChecksumError);
    expect(listAll(wrong)).toEqual([]);
  });
});

describe('the progress bar', () => {
  const collect = (isTTY: boolean) => {
    const written: string[] = [];
    let clock = 0;
    const bar = createProgressBar({ isTTY, write: (text: string) => written.push(text) }, () => (clock += 50));
    return { written, bar };
  };

  it('prints a plain line per 10% when the stream is not a terminal', () => {
    const { written, bar } = collect(false);
    for (let received = 0; received <= 2e6; received += 1e5) bar({ label: 'cifar10', received, total: 2e6, done: false });
    bar({ label: 'cifar10', received: 2e6, total: 2e6, done: true });
    expect(written).toHaveLength(12);
    expect(written.every((line) => line.endsWith('\n') && !line.includes('\r'))).toBe(true);
    expect(written[5]).toMatch(/^cifar10: 50% 1\.0\/2\.0 MB [\d.]+ MB\/s\n$/);
    expect(written.at(-1)).toMatch(/100% 2\.0\/2\.0 MB .* done\n$/);
  });

  it('redraws one line in place on a terminal', () => {
    const { written, bar } = collect(true);
    for (let received = 0; received <= 1e6; received += 1e5) bar({ label: 'svhn', received, total: 1e6, done: false });
    bar({ label: 'svhn', received: 1e6, total: 1e6, done: true });
    expect(written.every((text) => text.startsWith('\r'))).toBe(true);
    expect(written.at(-1)).toMatch(/^\rsvhn \[#{30}\] 100% 1\.0\/1\.0 MB .*\n$/);
    expect(written.filter((text) => text.endsWith('\n'))).toHaveLength(1);
  });
});

describe('the tar reader', () => {
  const root = temporaryFolder();
  const write = (name: string, bytes: Uint8Array) => {
    const path = join(root, name);
    writeFileSync(path, bytes);
    return path;
  };

  it('extracts plain and gzipped archives, GNU long names and pax paths, with md5s', async () => {
    const longName = `deep/${'x'.repeat(120)}.bin`;
    const pax = Buffer.from('31 path=pax/renamed-by-pax.txt\n'); // the length counts the whole record
    const paxEntry = writeTar([{ path: 'PaxHeader', data: pax }]);
    paxEntry[156] = 'x'.charCodeAt(0); // turn the first header into a pax header (and fix its checksum)
    paxEntry.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += paxEntry[i]!;
    paxEntry.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    const rest = writeTar([
      { path: 'ignored-name.txt', data: Buffer.from('pax') },
      { path: longName, data: Buffer.from('long') },
      { path: 'a/b.txt', data: Buffer.alloc(1000, 7) },
    ]);
    // Join: the pax header and its body (without the end blocks), then the rest.
    const archive = Buffer.concat([paxEntry.subarray(0, 1024), rest]);
    for (const [name, bytes] of [['plain.tar', archive], ['gzipped.tar.gz', gzipSync(archive)]] as const) {
      const destination = join(root, `out-${name}`);
      const files = await extractArchive(write(name, bytes), destination);
      expect(files.map((file) => file.path)).toEqual(['pax/renamed-by-pax.txt', longName, 'a/b.txt']);
      expect(readFileSync(join(destination, longName), 'utf8')).toBe('long');
      expect(files[2]).toEqual({ path: 'a/b.txt', size: 1000, md5: md5(Buffer.alloc(1000, 7)) });
    }
  });

  it('rejects a truncated archive, a damaged header and an entry escaping the destination', async () => {
    const archive = writeTar([{ path: 'data.bin', data: Buffer.alloc(5000, 1) }]);
    await expect(extractArchive(write('cut.tar', archive.subarray(0, 3000)), join(root, 'cut'))).rejects.toThrow(/ends inside "data\.bin" \(expected 5000 bytes, found 2488\)/);
    await expect(extractArchive(write('cut.tar.gz', gzipSync(archive).subarray(0, 40)), join(root, 'cutgz'))).rejects.toThrow(DatasetFormatError);
    const damaged = Buffer.from(archive);
    damaged[10] ^= 0x01;
    await expect(extractArchive(write('damaged.tar', damaged), join(root, 'damaged'))).rejects.toThrow(/header checksum does not match/);
    const escaping = writeTar([{ path: '../escape.txt', data: Buffer.from('no') }]);
    await expect(extractArchive(write('escape.tar', escaping), join(root, 'escape'))).rejects.toThrow(/would be written outside the destination/);
    expect(existsSync(join(root, 'escape.txt'))).toBe(false);
  });
});
