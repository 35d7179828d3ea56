import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { BenchOptionError } from '../errors.js';
import { describeMachine } from '../machine.js';
import { writeReports } from '../results/report.js';
import { RESULT_FILE } from '../results/result-format.js';
import { readAllResults, runsFolder } from '../results/results-folder.js';
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

/**
 * `report`: rewrites an output folder's reports from every finished configuration in it. Without
 * `--out` it looks in the default folder and, when that holds none itself, in the folders inside
 * it (the demo writes to `mlaan-bench-results/demo`): one is reported, several are named.
 */
export async function reportCommand(out: string, outGiven: boolean, argv: readonly string[], io: IO): Promise<void> {
  let outDir = resolve(out);
  if (!(await holdsResults(outDir))) {
    const inside = await resultFoldersInside(outDir);
    const shown = inside.map((folder) => relative(process.cwd(), folder) || '.');
    if (!outGiven && inside.length === 1) {
      io.stderr.write(`No finished configuration in ${out}/runs; reporting ${shown[0]}, which holds results.\n`);
      outDir = inside[0]!;
    } else if (inside.length > 0) {
      throw new BenchOptionError(`No finished configuration in ${out}/runs, but these folders inside it hold results: ${shown.join(', ')}. Give one with --out, e.g. mlaan-bench report --out ${shown[0]}.`);
    } else {
      throw new BenchOptionError(
        `No finished configuration in ${outDir}/runs. Give the folder a run wrote with --out (mlaan-bench report --out <folder>), or train one first: mlaan-bench ablation --out ${out} (or npm run demo).`,
      );
    }
  }
  const results = await readAllResults(outDir);
  await writeReports(outDir, results, { command: commandLine(argv), machine: describeMachine() });
  io.stdout.write(`Wrote ${outDir}/report.html, results.json, results.csv, results.md and charts/ from ${results.length} configuration(s).\n`);
}
