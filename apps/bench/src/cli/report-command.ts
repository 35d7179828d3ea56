import { resolve } from 'node:path';
import { BenchOptionError } from '../errors.js';
import { describeMachine } from '../machine.js';
import { writeReports } from '../results/report.js';
import { readAllResults } from '../results/results-folder.js';
import { commandLine, type IO } from './io.js';

/** `report`: rewrites an output folder's reports from every finished configuration in it. */
export async function reportCommand(out: string, argv: readonly string[], io: IO): Promise<void> {
  const outDir = resolve(out);
  const results = await readAllResults(outDir);
  if (results.length === 0) throw new BenchOptionError(`No finished configuration in ${outDir}/runs. Run mlaan-bench ablation --out ${out} first.`);
  await writeReports(outDir, results, { command: commandLine(argv), machine: describeMachine() });
  io.stdout.write(`Wrote ${outDir}/report.html, results.json, results.csv, results.md and charts/ from ${results.length} configuration(s).\n`);
}
