import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChecksumError, DatasetFormatError, DatasetNotFoundError, loadDataset, md5File, readMd5Sums } from './index.js';
import { sharedDataDir, temporaryFolder } from './testing/fixtures.js';

const sharedCopy = [join(sharedDataDir, 'cifar10', 'cifar-10-batches-bin'), join(sharedDataDir, 'cifar-10-batches-bin')].find((path) => {
  try {
    return readFileSync(join(path, 'MD5SUMS')).length > 0;
  } catch {
    return false;
  }
});
// A precondition, not a test: without the shared copy ($MLAAN_DATA_DIR) these suites are skipped, and say why.
const withSharedCopy = describe.skipIf(sharedCopy === undefined);
const skipped = sharedCopy === undefined ? ` [SKIPPED: no cifar-10-batches-bin with MD5SUMS under ${sharedDataDir}]` : '';
const cifarFolder = sharedCopy!;
const RECORD = 3073;

withSharedCopy(`CIFAR-10, the official binary files${skipped}`, () => {
  it('reads 10,000 test images, 1,000 per class, with the official first labels', async () => {
    const test = await loadDataset({ name: 'cifar10', split: 'test', dataDir: sharedDataDir });
    expect(test.kind).toBe('array');
    expect(test.count).toBe(10_000);
    expect([test.height, test.width]).toEqual([32, 32]);
    expect(Array.from(test.labels.subarray(0, 10))).toEqual([3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    const perClass = new Array(10).fill(0);
    for (const label of test.labels) perClass[label]++;
    expect(perClass).toEqual(new Array(10).fill(1000));
    expect(test.classes).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    expect(test.normalization.mean[0]).toBeCloseTo(125.3 / 255, 12);

    // HWC pixel (row, column, channel) of record r is byte 1 + channel*1024 + row*32 + column of the record.
    if (test.kind !== 'array') throw new Error('unreachable');
    const raw = readFileSync(join(test.folder, 'test_batch.bin'));
    for (const [record, row, column, channel] of [[0, 0, 0, 0], [0, 5, 17, 2], [9999, 31, 31, 1], [1234, 16, 3, 0]] as const) {
      const stored = test.images[((record * 32 + row) * 32 + column) * 3 + channel];
      expect(stored).toBe(raw[record * RECORD + 1 + channel * 1024 + row * 32 + column]);
    }
  });

  it('reads 50,000 training images, 5,000 per class', async () => {
    const train = await loadDataset({ name: 'cifar10', split: 'train', dataDir: sharedDataDir });
    expect(train.count).toBe(50_000);
    const perClass = new Array(10).fill(0);
    for (const label of train.labels) perClass[label]++;
    expect(perClass).toEqual(new Array(10).fill(5000));
    // The first label of data_batch_1.bin, and of data_batch_2.bin at record 10,000.
    const first = readFileSync(join(cifarFolder, 'data_batch_1.bin'))[0];
    const second = readFileSync(join(cifarFolder, 'data_batch_2.bin'))[0];
    expect([train.labels[0], train.labels[10_000]]).toEqual([first, second]);
  });

  it('matches every md5 in MD5SUMS, and verify passes', async () => {
    const sums = readMd5Sums(join(cifarFolder, 'MD5SUMS'));
    expect(sums.size).toBeGreaterThanOrEqual(7);
    for (const [file, md5] of sums) expect(await md5File(join(cifarFolder, file)), file).toBe(md5);
    await expect(loadDataset({ name: 'cifar10', split: 'test', dataDir: sharedDataDir, verify: true })).resolves.toMatchObject({ count: 10_000 });
  });

  it('also finds cifar-10-batches-bin directly in the data dir (MLAAN_DATA_DIR=…/datasets/cifar10)', async () => {
    const dataset = await loadDataset({ name: 'cifar10', split: 'test', dataDir: dirname(cifarFolder), limit: 10 });
    expect(dataset.folder).toBe(cifarFolder);
    // One of each class, the first of each in file order: the file starts 3, 8, 8, 0, 6, 6, 1, 6, 3, 1.
    expect(Array.from(dataset.labels).slice(0, 5)).toEqual([3, 8, 0, 6, 1]);
    expect(Array.from(dataset.labels).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps classes balanced under limit', async () => {
    const subset = await loadDataset({ name: 'cifar10', split: 'test', dataDir: sharedDataDir, limit: 105 });
    expect(subset.count).toBe(105);
    const perClass = new Array(10).fill(0);
    for (const label of subset.labels) perClass[label]++;
    expect(perClass.sort()).toEqual([10, 10, 10, 10, 10, 11, 11, 11, 11, 11]);
  });
});

withSharedCopy(`CIFAR-10, damaged copies${skipped}`, () => {
  const root = temporaryFolder();
  let copies = 0;
  /** A data dir holding a copy of test_batch.bin changed by `damage`. */
  const damagedCopy = (damage: (bytes: Buffer) => Buffer, withSums = false) => {
    const dataDir = join(root, `copy-${copies++}`);
    const folder = join(dataDir, 'cifar10', 'cifar-10-batches-bin');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'test_batch.bin'), damage(readFileSync(join(cifarFolder, 'test_batch.bin'))));
    if (withSums) copyFileSync(join(cifarFolder, 'MD5SUMS'), join(folder, 'MD5SUMS'));
    return { dataDir, file: join(folder, 'test_batch.bin') };
  };

  it('rejects a truncated file, naming it with the sizes', async () => {
    const { dataDir, file } = damagedCopy((bytes) => bytes.subarray(0, bytes.length - 100));
    const error = await loadDataset({ name: 'cifar10', split: 'test', dataDir }).catch((caught) => caught);
    expect(error).toBeInstanceOf(DatasetFormatError);
    expect(error.message).toContain(file);
    expect(error.message).toContain('truncated');
    expect(error.expected).toBe('30730000 bytes');
    expect(error.found).toBe('30729900 bytes');
  });

  it('rejects an oversized file', async () => {
    const { dataDir } = damagedCopy((bytes) => Buffer.concat([bytes, Buffer.alloc(RECORD)]));
    await expect(loadDataset({ name: 'cifar10', split: 'test', dataDir })).rejects.toThrow(/oversized: expected 30730000 bytes .* found 30733073 bytes/);
  });

  it('rejects a label outside 0-9', async () => {
    const { dataDir } = damagedCopy((bytes) => {
      const copy = Buffer.from(bytes);
      copy[5 * RECORD] = 12;
      return copy;
    });
    await expect(loadDataset({ name: 'cifar10', split: 'test', dataDir })).rejects.toThrow(/record 5 has label 12, outside 0-9/);
  });

  it('rejects a changed byte when verifying, against MD5SUMS and the published md5', async () => {
    const flip = (bytes: Buffer) => {
      const copy = Buffer.from(bytes);
      copy[1000] ^= 0xff;
      return copy;
    };
    for (const withSums of [true, false]) {
      const { dataDir, file } = damagedCopy(flip, withSums);
      // Without verify the sizes are right, so it loads.
      await expect(loadDataset({ name: 'cifar10', split: 'test', dataDir })).resolves.toMatchObject({ count: 10_000 });
      const error = await loadDataset({ name: 'cifar10', split: 'test', dataDir, verify: true }).catch((caught) => caught);
      expect(error).toBeInstanceOf(ChecksumError);
      expect(error.file).toBe(file);
      expect(error.expected).toBe('803d5f7f4d78ea53de84dbe85f74fb6d');
      expect(error.message).toContain(withSums ? 'MD5SUMS' : 'published checksum');
    }
  });

  it('names the missing file when a batch is missing', async () => {
    const { dataDir } = damagedCopy((bytes) => bytes);
    const error = await loadDataset({ name: 'cifar10', split: 'train', dataDir }).catch((caught) => caught);
    expect(error).toBeInstanceOf(DatasetNotFoundError);
    expect(error.message).toMatch(/missing data_batch_1\.bin, data_batch_2\.bin/);
    expect(error.message).toContain('download: true');
  });

  it('names the folders it looked in when the dataset is absent', async () => {
    const error = await loadDataset({ name: 'cifar10', split: 'test', dataDir: join(root, 'empty') }).catch((caught) => caught);
    expect(error).toBeInstanceOf(DatasetNotFoundError);
    expect(error.message).toContain(join(root, 'empty', 'cifar10', 'cifar-10-batches-bin'));
    expect(error.message).toContain('no such folder');
  });
});
