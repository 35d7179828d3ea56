import { relative, resolve } from 'node:path';
import { stableStringify } from '../configuration/configuration-id.js';
import { ResultsFolderError } from '../errors.js';
import { type GridEntry, readGridManifest } from './grid-manifest.js';
import type { RunResult } from './result-format.js';
import { type FoundRun, findRuns } from './results-folder.js';

export interface MergedResults {
  /** One result per run, the first folder's where several hold it. */
  runs: FoundRun[];
  /** Runs found in more than one folder, agreeing: which copy was taken. */
  duplicates: { run: string; kept: string; alsoIn: string[] }[];
  /** Configurations of the folders' grids (`grid.json`) that no folder has a result for. */
  missing: GridEntry[];
  /** The configurations the folders' grids name together (none: no folder has a grid.json). */
  grid: GridEntry[];
  /** The commands that wrote those grids. */
  gridCommands: string[];
}

/**
 * What must be equal for two results of one run folder to be the same training: the whole
 * configuration, the modules, the pipeline, the backend that actually ran and the data it saw.
 * (The id hashes the configuration, so results that differ here were trained by different code
 * or on different machines under one name.)
 */
function trainingFacts(result: RunResult): Record<string, unknown> {
  return {
    config: result.config,
    modules: result.modules,
    pipeline: result.pipeline ? { workers: result.pipeline.workers, exchange: result.pipeline.exchange } : null,
    backend: result.backend.choice,
    trainImages: result.trainImages,
    testImages: result.testImages,
  };
}

/** Dotted paths to the leaves of a JSON value. */
function leaves(value: unknown, path = '', into = new Map<string, string>()): Map<string, string> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) leaves(child, path ? `${path}.${key}` : key, into);
  } else if (value !== undefined) {
    into.set(path, stableStringify(value));
  }
  return into;
}

/** The fields two results disagree on, as `field: value in A, value in B`. */
export function disagreements(first: RunResult, second: RunResult): string[] {
  const a = leaves(trainingFacts(first));
  const b = leaves(trainingFacts(second));
  const fields = [...new Set([...a.keys(), ...b.keys()])].sort();
  return fields.filter((field) => a.get(field) !== b.get(field)).map((field) => `${field}: ${a.get(field) ?? 'absent'} vs ${b.get(field) ?? 'absent'}`);
}

function shown(folder: string): string {
  return relative(process.cwd(), folder) || '.';
}

/**
 * The finished runs of several results folders (shards that wrote their own, or copies from
 * several machines) as one set. A run found in several folders must be the same training there
 * (`disagreements`); if it is not, this refuses with both folders named. Runs of the folders'
 * grids without a result anywhere are `missing`.
 */
export async function mergeResultFolders(folders: readonly string[]): Promise<MergedResults> {
  const unique = [...new Set(folders.map((folder) => resolve(folder)))];
  const byRun = new Map<string, FoundRun>();
  const duplicates = new Map<string, { run: string; kept: string; alsoIn: string[] }>();
  const grid = new Map<string, GridEntry>();
  const gridCommands: string[] = [];
  for (const folder of unique) {
    const manifest = await readGridManifest(folder);
    if (manifest) {
      for (const entry of manifest.configurations) if (!grid.has(entry.run)) grid.set(entry.run, entry);
      for (const command of manifest.commands) if (!gridCommands.includes(command)) gridCommands.push(command);
    }
    for (const found of await findRuns(folder)) {
      const earlier = byRun.get(found.run);
      if (!earlier) {
        byRun.set(found.run, found);
        continue;
      }
      const differences = disagreements(earlier.result, found.result);
      if (differences.length > 0) {
        throw new ResultsFolderError(
          `Configuration ${found.run} is in both ${shown(earlier.folder)} and ${shown(found.folder)}, but the two disagree (${shown(earlier.folder)} vs ${shown(found.folder)}): ` +
            `${differences.slice(0, 5).join('; ')}${differences.length > 5 ? `; and ${differences.length - 5} more` : ''}. ` +
            `They are two different trainings under one name: delete the one you do not want (its runs/${found.run} folder), or report the folders apart.`,
        );
      }
      const duplicate = duplicates.get(found.run) ?? { run: found.run, kept: earlier.folder, alsoIn: [] };
      duplicate.alsoIn.push(found.folder);
      duplicates.set(found.run, duplicate);
    }
  }
  return {
    runs: [...byRun.values()],
    duplicates: [...duplicates.values()],
    missing: [...grid.values()].filter((entry) => !byRun.has(entry.run)),
    grid: [...grid.values()],
    gridCommands,
  };
}
