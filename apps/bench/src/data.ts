import { type Dataset, type DatasetName, loadDataset } from '@mlaan/data';

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
        dataDir: this.dataDir,
        download: this.download,
        limit: limit ?? undefined,
      });
      // A failed read is not cached, so a later call can retry after the user fixes the folder.
      dataset.catch(() => this.loaded.delete(key));
      this.loaded.set(key, dataset);
    }
    return dataset;
  }
}
