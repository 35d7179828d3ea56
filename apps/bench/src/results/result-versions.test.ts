import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { configId } from '../configuration/configuration-id.js';
import { methodLabel } from '../configuration/labels.js';
import { describeMachine } from '../machine.js';
import { writeReports } from './report.js';
import { RESULT_VERSION } from './result-format.js';
import { readAllResults } from './results-folder.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
/** The results committed under benchmarks/ (written in result format 2). */
const COMMITTED = ['benchmarks/mini', 'benchmarks/smoke'].map((folder) => join(repoRoot, folder)).filter((folder) => existsSync(join(folder, 'runs')));

describe('committed results of older versions', () => {
  const folders: string[] = [];
  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it.each(COMMITTED)('%s loads as the current version, with its ids, labels and host options as trained', async (folder) => {
    const runs = await readAllResults(folder);
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) {
      expect(run.version).toBe(RESULT_VERSION);
      // The id hashes the configuration as it was written: a rerun into that folder skips it.
      expect(configId(run.config)).toBe(run.id);
      expect(methodLabel(run.config)).toBe(run.method);
      expect(Object.keys(run.config)).not.toContain('infoproTask');
      if (run.config.framework === 'infopro') expect(run.config.frameworkOptions?.infopro?.task).toBe('contrast');
      if (run.config.framework === 'dgl') expect(run.config.frameworkOptions?.dgl?.head).toMatch(/^(linear|mlp-sr|mlaan)$/);
    }
  });

  it.each(COMMITTED)('%s renders the same tables as its committed report', async (folder) => {
    const copy = await mkdtemp(join(tmpdir(), 'mlaan-bench-committed-'));
    folders.push(copy);
    await cp(join(folder, 'runs'), join(copy, 'runs'), { recursive: true });
    const committed = await readFile(join(folder, 'results.md'), 'utf8');
    const written = await writeReports(copy, await readAllResults(copy), { command: 'test', machine: describeMachine(), generatedAt: 'now' });
    // The metric tables (rows = methods, columns = K): everything but the header lines and the hyperparameter rows.
    const tables = (markdown: string) => markdown.split('\n').filter((line) => /^\| (E2E|DGL|InfoPro)/.test(line));
    expect(tables(written.markdown)).toEqual(tables(committed));
  });
});
