import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { type Dataset, type DatasetName, DatasetNotFoundError, datasetSpecs, loadDataset, resolveDataDirectory } from '@mlaan/data';
import { MissingDatasetError } from './errors.js';

/**
 * The data folder to hand to @mlaan/data for `name`. `--data-dir` names the folder that holds the
 * datasets (`datasets/` with `cifar10/cifar-10-batches-bin` inside), but passing the dataset's own
 * folder (`.../cifar10/cifar-10-batches-bin` or `.../cifar-10-batches-bin`) is an easy misreading,
 * so that is accepted too: the folder above it is used.
 */
export function dataDirectoryFor(name: string, dataDir: string | undefined): string | undefined {
  if (dataDir === undefined) return undefined;
  const spec = datasetSpecs[name as DatasetName];
  if (!spec) return dataDir;
  const absolute = resolve(dataDir);
  const holdsDataset = [...spec.files.train, ...spec.files.test].some((file) => existsSync(join(absolute, file.path)));
  if (!holdsDataset) return dataDir;
  for (const folder of spec.folders) {
    if (folder === '.' || folder === '') continue;
    const suffix = folder.split('/').join(sep);
    if (absolute.endsWith(`${sep}${suffix}`)) return absolute.slice(0, absolute.length - suffix.length - 1) || sep;
  }
  return dataDir;
}

/** @mlaan/data's "not found" in the words of this command line: --download, --data-dir. */
function missingDataset(name: string, split: string, error: DatasetNotFoundError): MissingDatasetError {
  const downloadable = datasetSpecs[name as DatasetName]?.sources !== undefined;
  const fix = downloadable
    ? 'Add --download to fetch it, or pass --data-dir (or set MLAAN_DATA_DIR) to the folder that holds it.'
    : 'It cannot be downloaded automatically: put the files there, or pass --data-dir (or set MLAAN_DATA_DIR) to their parent folder.';
  return new MissingDatasetError(`${name} (${split}) was not found: looked in ${error.found ?? error.file}. ${fix}`, {
    file: error.file,
    expected: error.expected,
    found: error.found,
  });
}

/** Datasets read once per process and shared by every configuration of a grid. */
export class DatasetCache {
  private readonly loaded = new Map<string, Promise<Dataset>>();

  constructor(
    private readonly dataDir: string | undefined,
    private readonly download: boolean,
  ) {}

  get(name: string, split: 'train' | 'test', limit: number | null): Promise<Dataset> {
    const key = `${name}/${split}/${limit ?? 'all'}`;
    let dataset = this.loaded.get(key);
    if (!dataset) {
      dataset = loadDataset({
        name: name as DatasetName,
        split,
        dataDir: dataDirectoryFor(name, this.dataDir ?? resolveDataDirectory()),
        download: this.download,
        limit: limit ?? undefined,
      }).catch((error: unknown) => {
        throw error instanceof DatasetNotFoundError ? missingDataset(name, split, error) : error;
      });
      // A failed read is not cached, so a later call can retry after the user fixes the folder.
      dataset.catch(() => this.loaded.delete(key));
      this.loaded.set(key, dataset);
    }
    return dataset;
  }
}
