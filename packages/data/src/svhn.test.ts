import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeMatFile } from './testing/matlab-writer.js';
import { ChecksumError, DatasetFormatError, DatasetNotFoundError, loadDataset, readMatFile } from './index.js';
import { pixel, svhnMatFile, temporaryFolder } from './testing/fixtures.js';

describe('MATLAB 5 MAT-file reader', () => {
  const variables = [
    { name: 'images', className: 'uint8', dimensions: [2, 3], data: [1, 2, 3, 4, 5, 255] },
    { name: 'y', className: 'double', dimensions: [3, 1], data: [1, 10, 7], storeAs: 'miUINT8' },
    { name: 'weights', className: 'single', dimensions: [1, 2], data: [0.5, -2.25] },
    { name: 'longer_name_than_four', className: 'int32', dimensions: [1, 2], data: [-7, 123456] },
  ] as const;

  for (const [label, compress, littleEndian] of [
    ['uncompressed', false, true],
    ['miCOMPRESSED', true, true],
    ['big-endian', false, false],
  ] as const) {
    it(`reads back what MATLAB would write (${label})`, () => {
      const file = writeMatFile(variables.map((variable) => ({ ...variable, dimensions: [...variable.dimensions], compress })), littleEndian);
      const read = readMatFile(file, 'test.mat');
      expect([...read.keys()]).toEqual(['images', 'y', 'weights', 'longer_name_than_four']);
      expect(read.get('images')).toMatchObject({ className: 'uint8', dimensions: [2, 3] });
      expect(Array.from(read.get('images')!.real!)).toEqual([1, 2, 3, 4, 5, 255]);
      // Stored as miUINT8, read as the double class.
      expect(read.get('y')!.real).toBeInstanceOf(Float64Array);
      expect(Array.from(read.get('y')!.real!)).toEqual([1, 10, 7]);
      expect(Array.from(read.get('weights')!.real!)).toEqual([0.5, -2.25]);
      expect(Array.from(read.get('longer_name_than_four')!.real!)).toEqual([-7, 123456]);
    });
  }

  it('rejects a file that is not a MAT-file, a v7.3 file, a truncated file and a damaged compressed element', () => {
    const good = writeMatFile([{ name: 'X', className: 'uint8', dimensions: [4, 4], data: new Array(16).fill(3) }]);
    expect(() => readMatFile(Buffer.alloc(64), 'short.mat')).toThrow(/short\.mat is not a MATLAB 5 MAT-file: expected a 128-byte header, found 64 bytes/);
    const noMarker = Buffer.from(good);
    noMarker.write('XX', 126, 'latin1');
    expect(() => readMatFile(noMarker, 'marker.mat')).toThrow(/endian indicator/);
    const hdf5 = Buffer.from(good);
    hdf5.write('MATLAB 7.3 MAT-file', 0, 'latin1');
    expect(() => readMatFile(hdf5, 'v73.mat')).toThrow(/MATLAB 7\.3 \(HDF5\)/);
    expect(() => readMatFile(good.subarray(0, good.length - 12), 'cut.mat')).toThrow(DatasetFormatError);
    expect(() => readMatFile(good.subarray(0, good.length - 12), 'cut.mat')).toThrow(/cut\.mat .*file ends first/);
    const compressed = writeMatFile([{ name: 'X', className: 'uint8', dimensions: [4, 4], data: new Array(16).fill(3), compress: true }]);
    const damaged = Buffer.from(compressed);
    damaged[140] ^= 0xff;
    damaged[141] ^= 0xff;
    expect(() => readMatFile(damaged, 'damaged.mat')).toThrow(/damaged\.mat .*compressed element does not inflate/);
  });

  it('rejects an element whose data disagrees with its dimensions', () => {
    const file = writeMatFile([{ name: 'X', className: 'uint8', dimensions: [4, 4], data: new Array(12).fill(1) }]);
    expect(() => readMatFile(file, 'wrong.mat')).toThrow(/"X" holds 12 elements but its dimensions say 16/);
  });
});

describe('SVHN cropped digits', () => {
  const root = temporaryFolder();
  const labels = [1, 0, 9, 0, 5, 3, 0, 2];
  let folders = 0;
  const dataDirWith = (file: string, bytes: Uint8Array) => {
    const dataDir = join(root, `d${folders++}`);
    mkdirSync(join(dataDir, 'svhn'), { recursive: true });
    writeFileSync(join(dataDir, 'svhn', file), bytes);
    return dataDir;
  };

  for (const compress of [false, true]) {
    it(`reads X as HWC images and y with 10 as digit 0 (${compress ? 'compressed' : 'uncompressed'})`, async () => {
      const dataDir = dataDirWith('test_32x32.mat', svhnMatFile(labels, { compress, labelsAsUint8: compress }));
      const dataset = await loadDataset({ name: 'svhn', split: 'test', dataDir });
      if (dataset.kind !== 'array') throw new Error('SVHN is an in-memory dataset');
      expect(dataset.count).toBe(labels.length);
      expect(Array.from(dataset.labels)).toEqual(labels);
      expect(dataset.classes[0]).toBe('0');
      for (const [n, row, column, channel] of [[0, 0, 0, 0], [3, 1, 30, 2], [7, 31, 2, 1]] as const) {
        expect(dataset.images[((n * 32 + row) * 32 + column) * 3 + channel]).toBe(pixel(n, row, column, channel));
      }
      expect(dataset.normalization).toEqual({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    });
  }

  it('finds the file directly in the data dir too', async () => {
    const dataDir = join(root, 'flat');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'train_32x32.mat'), svhnMatFile([4, 4]));
    await expect(loadDataset({ name: 'svhn', dataDir })).resolves.toMatchObject({ count: 2, split: 'train' });
  });

  it('rejects mismatched record counts, bad labels, a wrong X and a missing file', async () => {
    const x = new Uint8Array(32 * 32 * 3 * 3);
    const mismatched = writeMatFile([
      { name: 'X', className: 'uint8', dimensions: [32, 32, 3, 3], data: x },
      { name: 'y', className: 'double', dimensions: [2, 1], data: [1, 2] },
    ]);
    await expect(loadDataset({ name: 'svhn', split: 'test', dataDir: dataDirWith('test_32x32.mat', mismatched) })).rejects.toThrow(
      /record counts of X and y differ \(expected 3 labels \(one per image in X\), found 2\)/,
    );
    const badLabel = writeMatFile([
      { name: 'X', className: 'uint8', dimensions: [32, 32, 3, 3], data: x },
      { name: 'y', className: 'double', dimensions: [3, 1], data: [1, 11, 2] },
    ]);
    await expect(loadDataset({ name: 'svhn', split: 'test', dataDir: dataDirWith('test_32x32.mat', badLabel) })).rejects.toThrow(/record 1 has label 11, outside 1-10/);
    const wrongShape = writeMatFile([
      { name: 'X', className: 'uint8', dimensions: [28, 28, 3, 1], data: new Uint8Array(28 * 28 * 3) },
      { name: 'y', className: 'double', dimensions: [1, 1], data: [1] },
    ]);
    await expect(loadDataset({ name: 'svhn', split: 'test', dataDir: dataDirWith('test_32x32.mat', wrongShape) })).rejects.toThrow(
      /variable X \(expected uint8 32×32×3×N, found uint8 28×28×3×1\)/,
    );
    const truncated = svhnMatFile([1, 2, 3]);
    const error = await loadDataset({ name: 'svhn', split: 'test', dataDir: dataDirWith('test_32x32.mat', truncated.subarray(0, 5000)) }).catch((caught) => caught);
    expect(error).toBeInstanceOf(DatasetFormatError);
    expect(error.file).toMatch(/test_32x32\.mat$/);
    await expect(loadDataset({ name: 'svhn', split: 'train', dataDir: dataDirWith('test_32x32.mat', truncated) })).rejects.toThrow(DatasetNotFoundError);
  });

  it('rejects a file that is not the official one when verifying', async () => {
    const dataDir = dataDirWith('test_32x32.mat', svhnMatFile([1, 2]));
    const error = await loadDataset({ name: 'svhn', split: 'test', dataDir, verify: true }).catch((caught) => caught);
    expect(error).toBeInstanceOf(ChecksumError);
    expect(error.expected).toBe('eb5a983be6a315427106f1b164d9cef3');
  });
});
