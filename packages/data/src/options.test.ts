import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@mlaan/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createLoader, downloadDataset, loadDataset, type LoadDatasetOptions, type LoaderOptions } from './index.js';
import { syntheticDataset } from './testing/synthetic-dataset.js';

/** A data folder that must stay empty: a rejected call neither reads nor downloads anything. */
const dataDir = mkdtempSync(join(tmpdir(), 'mlaan-options-test-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const misspelt = <T>(options: Record<string, unknown>) => options as unknown as T;

describe("the loaders' options are checked before anything is read (issue 25, defect 4)", () => {
  it("loadDataset({ dataDri }) is a ConfigError with a did-you-mean, not a silent fall-back to the cache folder", async () => {
    const call = loadDataset(misspelt<LoadDatasetOptions>({ name: 'cifar10', dataDri: dataDir, download: true }));
    await expect(call).rejects.toThrow(ConfigError);
    await expect(loadDataset(misspelt<LoadDatasetOptions>({ name: 'cifar10', dataDri: dataDir }))).rejects.toThrow(
      /^loadDataset\(\): unknown option\(s\) 'dataDri' \('dataDri': did you mean 'dataDir'\?\)/,
    );
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('loadDataset rejects bad values naming the option and what it takes', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ name: 'cifar' }, /loadDataset\(\): name must be one of 'cifar10', 'svhn', 'stl10', 'imagenet'; got "cifar"/],
      [{ name: 'cifar10', split: 'val' }, /split must be one of 'train', 'test'; got "val"/],
      [{ name: 'cifar10', limit: 0 }, /limit must be an integer >= 1 \(examples to keep\); got 0/],
      [{ name: 'cifar10', download: 'yes' }, /download must be true or false; got yes/],
      [{ name: 'cifar10', dataDir: '' }, /dataDir must be a folder \(a non-empty string\); got ""/],
      [{ name: 'cifar10', progress: 'bar' }, /progress must be true, false or a function/],
      [{ name: 'cifar10', source: { address: 'http://x' } }, /source takes url and md5 only; got 'address'/],
      [{ name: 'cifar10', source: { url: 'http://x', md5: 'abc' } }, /source md5 must be 32 hexadecimal digits/],
      [{}, /name must be one of/],
    ];
    for (const [options, message] of cases) {
      await expect(loadDataset({ dataDir, ...options } as LoadDatasetOptions), JSON.stringify(options)).rejects.toThrow(message);
    }
    await expect(loadDataset(null as unknown as LoadDatasetOptions)).rejects.toThrow(ConfigError);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('downloadDataset rejects unknown options with a did-you-mean, downloading nothing', async () => {
    await expect(downloadDataset(misspelt({ name: 'cifar10', dataDir, splt: 'test' }))).rejects.toThrow(
      /^downloadDataset\(\): unknown option\(s\) 'splt' \('splt': did you mean 'split'\?\)/,
    );
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('createLoader({ worker: 2 }) says workers, with a did-you-mean; bad values name the option', () => {
    const dataset = syntheticDataset(8);
    expect(() => createLoader(dataset, misspelt<LoaderOptions>({ batchSize: 4, worker: 2 }))).toThrow(
      /^createLoader\(\): unknown option\(s\) 'worker' \('worker': did you mean 'workers'\?\)/,
    );
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{}, /createLoader\(\): batchSize must be an integer >= 1; got undefined/],
      [{ batchSize: 2.5 }, /batchSize must be an integer >= 1; got 2.5/],
      [{ batchSize: 4, prefetch: 0 }, /prefetch must be an integer >= 1 \(batches prepared ahead\); got 0/],
      [{ batchSize: 4, decoder: 'libjpeg' }, /decoder must be one of 'auto', 'sharp', 'jpeg-js'; got "libjpeg"/],
      [{ batchSize: 4, badImages: 'ignore' }, /badImages must be one of 'fail', 'skip'; got "ignore"/],
      [{ batchSize: 4, augment: { kind: 'crop' } }, /augment must be true .* or a transform with kind 'none', 'pad-crop-flip'/],
      [{ batchSize: 4, seed: 'a' }, /seed must be an integer; got "a"/],
      [{ batchSize: 4, shuffle: 1 }, /shuffle must be true or false; got 1/],
    ];
    for (const [options, message] of cases) {
      expect(() => createLoader(dataset, options as unknown as LoaderOptions), JSON.stringify(options)).toThrow(ConfigError);
      expect(() => createLoader(dataset, options as unknown as LoaderOptions), JSON.stringify(options)).toThrow(message);
    }
  });
});
