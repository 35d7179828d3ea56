import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { BenchOptionError } from '../errors.js';
import { describeMachine } from '../machine.js';
import { GRID_FORMAT, readGridManifest, writeGridManifest } from '../results/grid-manifest.js';
import { mergeResultFolders } from '../results/merge-results.js';
import { writeReports } from '../results/report.js';
import { RESULT_FILE, writeResult } from '../results/result-format.js';
import { runsFolder } from '../results/results-folder.js';
import { commandLine, type IO } from './io.js';

/** Whether `folder` holds at least one finished configuration (`runs/<id>/result.json`). */
async function holdsResults(folder: string): Promise<boolean> {
  const runs = runsFolder(folder);
  if (!existsSync(runs)) return false;
  for (const entry of await readdir(runs, { withFileTypes: true })) {
    if (entry.isDirectory() && existsSync(join(runs, entry.name, RESULT_FILE))) return true;
  }
  return false;
}

/** The folders directly inside `folder` that hold results (`mlaan-bench-results/demo` after `npm run demo`). */
async function resultFoldersInside(folder: string): Promise<string[]> {
  if (!existsSync(folder)) return [];
  const found: string[] = [];
  for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.isDirectory() && entry.name !== 'runs' && (await holdsResults(join(folder, entry.name)))) found.push(join(folder, entry.name));
  }
  return found;
}

const shown = (folder: string) => relative(process.cwd(), folder) || '.';

/** The output folder when no results folders are named: `--out`, or the one folder inside the default that holds results. */
async function folderToReport(out: string, outGiven: boolean, io: IO): Promise<string> {
  const outDir = resolve(out);
  if (await holdsResults(outDir)) return outDir;
  const inside = await resultFoldersInside(outDir);
  const names = inside.map(shown);
  if (!outGiven && inside.length === 1) {
    io.stderr.write(`No finished configuration in ${out}/runs; reporting ${names[0]}, which holds results.\n`);
    return inside[0]!;
  }
  if (inside.length > 0) {
    throw new BenchOptionError(`No finished configuration in ${out}/runs, but these folders inside it hold results: ${names.join(', ')}. Give one with --out, e.g. mlaan-bench report --out ${names[0]}.`);
  }
  throw new BenchOptionError(
    `No finished configuration in ${outDir}/runs. Give the folder a run wrote with --out (mlaan-bench report --out <folder>), or train one first: mlaan-bench ablation --out ${out} (or npm run demo).`,
  );
}

/**
 * `report`: writes the reports of every finished configuration in one or several results folders.
 * Without folders it rewrites the `--out` folder's own reports (without `--out`: the default
 * folder, or the one folder inside it that holds results, as `npm run demo` writes them). With
 * folders (shards that wrote their own, copies from several machines) it merges them into `--out`:
 * their results are copied to `<out>/runs/`, a configuration found in several folders must be the
 * same training in each (else it refuses, naming both), and the configurations of their grids
 * (`grid.json`) that no folder has finished are named.
 */
export async function reportCommand(out: string, outGiven: boolean, folders: readonly string[], argv: readonly string[], io: IO): Promise<void> {
  if (folders.length > 1 && !outGiven) {
    throw new BenchOptionError(`Merging ${folders.length} results folders needs a folder to write the merged report to: add --out <dir> (a new folder, or one of them).`);
  }
  for (const folder of folders) {
    if (!existsSync(runsFolder(folder)) && (await readGridManifest(folder)) === undefined) {
      throw new BenchOptionError(`${folder} is not a results folder (it has no runs/ and no grid.json). Name the folders that mlaan-bench ablation --out wrote.`);
    }
  }
  const outDir = folders.length === 0 ? await folderToReport(out, outGiven, io) : resolve(outGiven ? out : folders[0]!);
  // The output folder is a results folder too: what it already holds is part of its report.
  const merged = await mergeResultFolders([...folders, outDir]);
  if (merged.runs.length === 0) {
    throw new BenchOptionError(`No finished configuration in ${folders.map(shown).join(', ')}: nothing to report yet.${merged.missing.length > 0 ? ` Their grid has ${merged.missing.length} configuration(s) to train.` : ''}`);
  }
  for (const found of merged.runs) {
    if (resolve(found.folder) !== outDir) await writeResult(join(runsFolder(outDir), found.run), found.result);
  }
  if (merged.grid.length > 0) {
    await writeGridManifest(outDir, { format: GRID_FORMAT, version: 1, commands: merged.gridCommands, configurations: merged.grid });
  }
  const results = merged.runs.map((found) => found.result);
  await writeReports(outDir, results, {
    command: commandLine(argv),
    machine: describeMachine(),
    ...(merged.grid.length > 0 ? { missing: { entries: merged.missing, gridSize: merged.grid.length } } : {}),
  });

  const sources = folders.length > 0 ? ` of ${new Set([...folders.map((f) => resolve(f)), outDir]).size} folder(s)` : '';
  io.stdout.write(`Wrote ${outDir}/report.html, results.json, results.csv, results.md and charts/ from ${results.length} configuration(s)${sources}.\n`);
  for (const duplicate of merged.duplicates) {
    io.stdout.write(`${duplicate.run} is in ${[duplicate.kept, ...duplicate.alsoIn].map(shown).join(' and ')} (the same training); reported once, from ${shown(duplicate.kept)}.\n`);
  }
  if (merged.missing.length > 0) {
    io.stdout.write(
      `Still missing ${merged.missing.length} of the grid's ${merged.grid.length} configurations (no result in any folder):\n` +
        merged.missing.map((entry) => `- ${entry.label} (${entry.run})\n`).join('') +
        `Train them with ${merged.gridCommands.length > 1 ? 'the commands' : 'the command'} that wrote the grid (finished configurations are skipped, interrupted ones resume): ${merged.gridCommands.join(' ; ')}\n`,
    );
  } else if (merged.grid.length > 0) {
    io.stdout.write(`Every configuration of the grid (${merged.grid.length}) has a result.\n`);
  }
}
