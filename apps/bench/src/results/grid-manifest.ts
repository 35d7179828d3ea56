import { join } from 'node:path';
import { configId } from '../configuration/configuration-id.js';
import { runLabel } from '../configuration/labels.js';
import type { RunConfig } from '../configuration/settings.js';
import { ResultsFolderError } from '../errors.js';
import { readJsonFile, writeJsonAtomic } from './json-files.js';
import { runFolderName } from './results-folder.js';

/**
 * `<out>/grid.json`: the whole grid an `ablation` was asked to train into a folder, written before
 * it trains (by every shard alike, whichever slice it trains), so that `mlaan-bench report` can
 * say which configurations have no result yet. The folder's last `ablation` writes it.
 */
export const GRID_FILE = 'grid.json';
export const GRID_FORMAT = 'mlaan-bench-grid';

export interface GridEntry {
  /** The run's folder under `runs/` (its configuration id, plus the workers for a pipelined run). */
  run: string;
  id: string;
  label: string;
}

export interface GridManifest {
  format: typeof GRID_FORMAT;
  version: 1;
  /** The commands that train the grid (a shard's without its --shard; a merged report's folders may have had several). */
  commands: string[];
  configurations: GridEntry[];
}

export function gridManifest(configs: readonly RunConfig[], command: string, workers?: number, exchange?: 'exact' | 'delayed'): GridManifest {
  return {
    format: GRID_FORMAT,
    version: 1,
    commands: [command],
    configurations: configs.map((config) => ({ run: runFolderName(config, workers, exchange), id: configId(config), label: runLabel(config, workers, exchange) })),
  };
}

export function writeGridManifest(outDir: string, manifest: GridManifest): Promise<void> {
  return writeJsonAtomic(join(outDir, GRID_FILE), manifest);
}

/** The folder's grid, or undefined when no `ablation` wrote one there. */
export async function readGridManifest(outDir: string): Promise<GridManifest | undefined> {
  const path = join(outDir, GRID_FILE);
  const parsed = (await readJsonFile(path, `Delete it; the next mlaan-bench ablation into ${outDir} writes it again.`)) as Partial<GridManifest> | undefined;
  if (!parsed) return undefined;
  if (parsed.format !== GRID_FORMAT || parsed.version !== 1 || !Array.isArray(parsed.configurations) || !Array.isArray(parsed.commands)) {
    throw new ResultsFolderError(`${path} is not an mlaan-bench grid (format '${String(parsed.format)}', version ${String(parsed.version)}). Delete it or use another folder.`);
  }
  return parsed as GridManifest;
}
