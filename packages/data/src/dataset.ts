import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '@mlaan/core';
import { verifyFiles } from './checksum.js';
import { downloadDataset } from './download.js';
import { DatasetNotFoundError } from './errors.js';
import { loadDatasetOptions } from './options.js';
import { resolveDataDirectory, isDirectory } from './paths.js';
import type { ProgressOption } from './progress.js';
import { readClassNames } from './readers/common.js';
import { readCifar10 } from './readers/cifar10.js';
import { listImageFolder, verifyJpegFiles } from './readers/imagenet.js';
import { readStl10 } from './readers/stl10.js';
import { readSvhn } from './readers/svhn.js';
import { type DatasetName, type DatasetSpec, type Split, datasetSpecs, transformOutputSize } from './specs.js';
import { balancedSubset } from './subset.js';
import { type ArrayDataset, type Dataset, type ImageArrays, type ImageFolderDataset, sharedBytes } from './types.js';

export interface LoadDatasetOptions {
  name: DatasetName;
  /** Default 'train'. ImageNet's 'test' is its labelled validation set (the `val` folder). */
  split?: Split;
  /** Default: $MLAAN_DATA_DIR, else the per-user cache folder. */
  dataDir?: string;
  /** Download the dataset when it is not in the data directory. Default false. */
  download?: boolean;
  /** Keep only this many examples, classes balanced. Default: all. */
  limit?: number;
  /** Check every file read against its md5 (MD5SUMS beside it and/or the published one). Default false. */
  verify?: boolean;
  /** Download progress. Default true (a bar on stderr). */
  progress?: ProgressOption;
  /** Download from a mirror instead of the official address. */
  source?: { url: string; md5?: string };
}

function notFound(spec: DatasetSpec, split: Split, dataDir: string): DatasetNotFoundError {
  const required = spec.files[split].map((file) => file.path);
  const looked = spec.folders.map((folder) => {
    const path = join(dataDir, folder);
    if (!isDirectory(path)) return `${path} (no such folder)`;
    return `${path} (missing ${required.filter((file) => !existsSync(join(path, file))).join(', ')})`;
  });
  const fix = spec.sources
    ? 'Load with download: true to fetch it, or point dataDir (or MLAAN_DATA_DIR) at the folder that holds it.'
    : 'It cannot be downloaded automatically: put the files there, or point dataDir (or MLAAN_DATA_DIR) at their parent folder.';
  return new DatasetNotFoundError(`${spec.name} (${split}) is not in ${dataDir}: looked in ${looked.join('; ')}. ${fix}`, {
    file: join(dataDir, spec.folders[0]!),
    expected: required.join(', '),
    found: looked.join('; '),
  });
}

function readArrays(spec: DatasetSpec, split: Split, folder: string): ImageArrays {
  const files = spec.files[split].map((file) => file.path);
  switch (spec.name) {
    case 'cifar10':
      return readCifar10(folder, files);
    case 'svhn':
      return readSvhn(folder, files[0]!);
    case 'stl10':
      return readStl10(folder, files[0]!, files[1]!);
    default:
      throw new ConfigError(`${spec.name} is not an in-memory dataset.`);
  }
}

function classNames(spec: DatasetSpec, folder: string): readonly string[] {
  if (spec.name === 'cifar10') return readClassNames(join(folder, 'batches.meta.txt'), 10) ?? spec.classes;
  if (spec.name === 'stl10') return readClassNames(join(folder, 'class_names.txt'), 10) ?? spec.classes;
  return spec.classes;
}

/**
 * Reads a dataset split from the data directory (downloading it first when asked), validating
 * every file, and returns its images and labels. Unknown or bad options are ConfigErrors. CIFAR-10, SVHN and STL-10 are held in memory;
 * ImageNet is listed and decoded batch by batch.
 */
export async function loadDataset(given: LoadDatasetOptions): Promise<Dataset> {
  const options = loadDatasetOptions.resolve(given);
  const spec = datasetSpecs[options.name];
  const split = options.split;
  const dataDir = resolveDataDirectory(options.dataDir);
  const required = spec.files[split].map((file) => file.path);

  let folder = spec.folders.map((candidate) => join(dataDir, candidate)).find((path) => required.every((file) => existsSync(join(path, file))));
  if (!folder) {
    if (!options.download || !spec.sources) throw notFound(spec, split, dataDir);
    folder = await downloadDataset({ name: spec.name, split, dataDir, progress: options.progress, source: options.source });
  }

  if (spec.name === 'imagenet') {
    const listing = listImageFolder(join(folder, required[0]!));
    if (options.verify) await verifyJpegFiles(listing.files);
    const keep = options.limit === undefined ? undefined : balancedSubset(listing.labels, listing.classes.length, options.limit);
    const [height, width] = transformOutputSize(spec.eval, 0, 0);
    const dataset: ImageFolderDataset = {
      kind: 'files',
      name: spec.name,
      split,
      folder,
      classes: listing.classes,
      normalization: spec.normalization,
      height,
      width,
      files: keep ? Array.from(keep, (i) => listing.files[i]!) : listing.files,
      labels: keep ? Int32Array.from(keep, (i) => listing.labels[i]!) : listing.labels,
      count: keep ? keep.length : listing.files.length,
    };
    return dataset;
  }

  if (options.verify) await verifyFiles(spec.files[split].map((file) => ({ path: join(folder!, file.path), md5: file.md5 })));
  const arrays = readArrays(spec, split, folder);
  const classes = classNames(spec, folder);
  let { images, labels } = arrays;
  if (options.limit !== undefined) {
    const keep = balancedSubset(labels, classes.length, options.limit);
    const size = arrays.height * arrays.width * 3;
    const subset = sharedBytes(keep.length * size);
    keep.forEach((index, i) => subset.set(images.subarray(index * size, (index + 1) * size), i * size));
    images = subset;
    labels = Int32Array.from(keep, (index) => arrays.labels[index]!);
  }
  const dataset: ArrayDataset = {
    kind: 'array',
    name: spec.name,
    split,
    folder,
    classes,
    normalization: spec.normalization,
    height: arrays.height,
    width: arrays.width,
    images,
    labels,
    count: labels.length,
  };
  return dataset;
}
