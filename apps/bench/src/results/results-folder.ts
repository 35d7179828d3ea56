import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { configId } from '../configuration/configuration-id.js';
import type { RunConfig } from '../configuration/settings.js';
import { readResult, type RunResult } from './result-format.js';

/** Where an output folder keeps its configurations' runs: `<out>/runs/<folder>/result.json`. */
export function runsFolder(outDir: string): string {
  return join(outDir, 'runs');
}

/**
 * The folder of a configuration's run under `runs/`: its id, and for a pipelined run the worker
 * count and exchange, so that `--workers 2` never skips a configuration because its sequential
 * run finished in the same output folder (the id itself does not name the workers: the pipelined
 * trainer computes the same model).
 */
export function runFolderName(config: RunConfig, workers = 1, exchange: 'exact' | 'delayed' = 'exact'): string {
  const id = configId(config);
  return workers > 1 ? `${id}-workers${workers}-${exchange}` : id;
}

/** Every finished result under `outDir/runs`, for `mlaan-bench report`. */
export async function readAllResults(outDir: string): Promise<RunResult[]> {
  const folder = runsFolder(outDir);
  if (!existsSync(folder)) return [];
  const results: RunResult[] = [];
  for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory()) continue;
    const result = await readResult(join(folder, entry.name));
    if (result) results.push(result);
  }
  return results;
}
