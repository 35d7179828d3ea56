import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetFormatError, DatasetNotFoundError, loadDataset } from './index.js';
import { pixel, stl10ImageBytes, temporaryFolder } from './testing/fixtures.js';

const IMAGE = 96 * 96 * 3;

describe('STL-10 binary', () => {
  const root = temporaryFolder();
  let folders = 0;
  const dataDirWith = (imageBytes: Uint8Array, labelBytes: Uint8Array, extra: Record<string, string> = {}) => {
    const dataDir = join(root, `d${folders++}`);
    const folder = join(dataDir, 'stl10', 'stl10_binary');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'train_X.bin'), imageBytes);
    writeFileSync(join(folder, 'train_y.bin'), labelBytes);
    for (const [name, text] of Object.entries(extra)) writeFileSync(join(folder, name), text);
    return dataDir;
  };

  it('turns column-major planes into HWC images and labels 1-10 into 0-9', async () => {
    const labels = Uint8Array.from([1, 10, 4, 7]);
    const dataset = await loadDataset({ name: 'stl10', dataDir: dataDirWith(stl10ImageBytes(4), labels) });
    if (dataset.kind !== 'array') throw new Error('STL-10 is an in-memory dataset');
    expect([dataset.count, dataset.height, dataset.width]).toEqual([4, 96, 96]);
    expect(Array.from(dataset.labels)).toEqual([0, 9, 3, 6]);
    expect(dataset.classes).toEqual(['airplane', 'bird', 'car', 'cat', 'deer', 'dog', 'horse', 'monkey', 'ship', 'truck']);
    for (const [n, row, column, channel] of [[0, 0, 1, 0], [1, 1, 0, 0], [2, 95, 3, 2], [3, 40, 77, 1]] as const) {
      expect(dataset.images[((n * 96 + row) * 96 + column) * 3 + channel], `${n} ${row} ${column} ${channel}`).toBe(pixel(n, row, column, channel));
    }
  });

  it('reads class names from class_names.txt when present', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    const dataset = await loadDataset({ name: 'stl10', dataDir: dataDirWith(stl10ImageBytes(1), Uint8Array.from([2]), { 'class_names.txt': names.join('\n') + '\n' }) });
    expect(dataset.classes).toEqual(names);
    await expect(
      loadDataset({ name: 'stl10', dataDir: dataDirWith(stl10ImageBytes(1), Uint8Array.from([2]), { 'class_names.txt': 'a\nb\n' }) }),
    ).rejects.toThrow(/should list 10 class names, one per line, but lists 2/);
  });

  it('rejects truncated and oversized image files, naming the sizes', async () => {
    const truncated = await loadDataset({ name: 'stl10', dataDir: dataDirWith(stl10ImageBytes(3).subarray(0, 2 * IMAGE + 5), Uint8Array.from([1, 2, 3])) }).catch((e) => e);
    expect(truncated).toBeInstanceOf(DatasetFormatError);
    expect(truncated.message).toMatch(/train_X\.bin is truncated .*expected 82944 bytes \(3 images of 27648 bytes, one per label\), found 55301 bytes \(2 whole images and 5 bytes over\)/);
    const oversized = await loadDataset({ name: 'stl10', dataDir: dataDirWith(stl10ImageBytes(3), Uint8Array.from([1, 2])) }).catch((e) => e);
    expect(oversized).toBeInstanceOf(DatasetFormatError);
    expect(oversized.message).toMatch(/oversized or does not match .*train_y\.bin: expected 55296 bytes/);
  });

  it('rejects labels outside 1-10 and a missing label file', async () => {
    await expect(loadDataset({ name: 'stl10', dataDir: dataDirWith(stl10ImageBytes(2), Uint8Array.from([3, 0])) })).rejects.toThrow(/record 1 has label 0, outside 1-10/);
    await expect(loadDataset({ name: 'stl10', dataDir: dataDirWith(stl10ImageBytes(2), Uint8Array.from([11, 1])) })).rejects.toThrow(/record 0 has label 11/);
    const error = await loadDataset({ name: 'stl10', split: 'test', dataDir: dataDirWith(stl10ImageBytes(1), Uint8Array.from([1])) }).catch((e) => e);
    expect(error).toBeInstanceOf(DatasetNotFoundError);
    expect(error.message).toMatch(/missing test_X\.bin, test_y\.bin/);
  });
});
