import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configId } from '../configuration/configuration-id.js';
import { expandGrid } from '../configuration/grid.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import { selectShard } from '../configuration/shard.js';
import type { RunConfig } from '../configuration/settings.js';
import { removeScratchFolders, runCli, runFolders, scratchFolder } from '../testing.js';
import { result } from './result.fixture.js';
import { gridManifest, writeGridManifest } from './grid-manifest.js';
import { disagreements, mergeResultFolders } from './merge-results.js';
import { type RunResult, writeResult } from './result-format.js';
import { runsFolder } from './results-folder.js';

afterAll(removeScratchFolders);

// Four configurations, trained as two shards into two folders.
const grid = expandGrid(resolveSettings(undefined, { frameworks: ['e2e', 'dgl'], pluginSets: ['none'], Ks: [2], seeds: [0, 1], epochs: 1, backend: 'cpu' }));
const finished = (config: RunConfig, error: number): RunResult => result(config, config.framework === 'e2e' ? 1 : 2, error, 2 ** 20, 40);

async function shardFolder(name: string, shardIndex: number, results: (config: RunConfig) => RunResult | undefined): Promise<string> {
  const folder = await scratchFolder(name);
  await writeGridManifest(folder, gridManifest(grid, 'mlaan-bench ablation --framework e2e,dgl --K 2 --seeds 0,1 --epochs 1 --backend cpu'));
  for (const config of selectShard(grid, { index: shardIndex, count: 2 })) {
    const run = results(config);
    if (run) await writeResult(join(runsFolder(folder), configId(config)), run);
  }
  return folder;
}

describe('merging results folders', () => {
  it('reports each configuration once, and names the configurations of the grid no folder has finished', async () => {
    const first = await shardFolder('merge-a', 1, (config) => finished(config, 10 + config.seed));
    // The second shard finished one of its two configurations.
    let left = 1;
    const second = await shardFolder('merge-b', 2, (config) => (left-- > 0 ? finished(config, 20) : undefined));
    const merged = await mergeResultFolders([first, second]);
    expect(merged.runs.map((run) => run.run).sort()).toEqual([...(await runFolders(first)), ...(await runFolders(second))].sort());
    expect(merged.runs).toHaveLength(3);
    expect(merged.grid).toHaveLength(4);
    const unfinished = selectShard(grid, { index: 2, count: 2 })[1]!;
    expect(merged.missing).toEqual([{ run: configId(unfinished), id: configId(unfinished), label: `${unfinished.framework === 'e2e' ? 'E2E K=1' : 'DGL K=2'} seed ${unfinished.seed}` }]);

    // The CLI: one report from both folders, in a third.
    const out = await scratchFolder('merge-out');
    const { code, stdout } = await runCli(['report', '--out', out, first, second]);
    expect(code).toBe(0);
    expect(stdout).toContain(`Wrote ${out}/report.html, results.json, results.csv, results.md and charts/ from 3 configuration(s) of 3 folder(s).`);
    expect(stdout).toContain(`Still missing 1 of the grid's 4 configurations (no result in any folder):\n- ${merged.missing[0]!.label} (${merged.missing[0]!.run})\n`);
    expect(stdout).toContain('Train them with the command that wrote the grid (finished configurations are skipped, interrupted ones resume): mlaan-bench ablation --framework e2e,dgl');
    expect((await runFolders(out)).sort()).toEqual(merged.runs.map((run) => run.run).sort());
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results.runs).toHaveLength(3);
    expect(results.grid).toEqual({ configurations: 4, missing: merged.missing });
    expect(await readFile(join(out, 'results.md'), 'utf8')).toContain(`- Not finished: 1 of the grid's 4 configurations have no result yet: ${merged.missing[0]!.label} (${merged.missing[0]!.run}).`);
    // The merged folder is a results folder of its own: it reports again without the shards.
    expect((await runCli(['report', '--out', out])).stdout).toContain('from 3 configuration(s)');
  });

  it('takes a configuration found in two folders once when both are the same training', async () => {
    const first = await shardFolder('same-a', 1, (config) => finished(config, 10));
    const copy = await shardFolder('same-b', 1, (config) => finished(config, 10));
    const merged = await mergeResultFolders([first, copy]);
    expect(merged.runs).toHaveLength(2);
    expect(merged.runs.every((run) => run.folder === first)).toBe(true);
    expect(merged.duplicates.map((d) => [d.kept, d.alsoIn])).toEqual([
      [first, [copy]],
      [first, [copy]],
    ]);
  });

  it('refuses a configuration whose copies disagree, naming both folders and the fields', async () => {
    const first = await shardFolder('disagree-a', 1, (config) => finished(config, 10));
    const other = await shardFolder('disagree-b', 1, (config) => ({ ...finished(config, 10), backend: { choice: 'wasm', tfjsBackend: 'wasm', description: 'WebAssembly' }, trainImages: 99 }));
    const [run] = await runFolders(first);
    await expect(mergeResultFolders([first, other])).rejects.toThrow(
      new RegExp(`Configuration ${run} is in both .*disagree-a.* and .*disagree-b.*, but the two disagree .*: backend: "cpu" vs "wasm"; trainImages: 100 vs 99\\. They are two different trainings under one name`),
    );
    const { code, stderr } = await runCli(['report', '--out', await scratchFolder('disagree-out'), first, other]);
    expect(stderr).toMatch(/error: Configuration .* is in both/);
    expect(code).toBe(1);
  });

  it('lists every field in which two results differ', () => {
    const [config] = grid;
    const a = finished(config!, 10);
    const b = { ...a, config: { ...a.config, learningRate: 0.2 }, modules: 3 };
    expect(disagreements(a, b)).toEqual([`config.learningRate: ${a.config.learningRate} vs 0.2`, 'modules: 1 vs 3']);
    expect(disagreements(a, { ...a, testErrorPercent: { best: 0, bestEpoch: 1, last: 0 } })).toEqual([]);
  });

  it('needs --out for several folders and refuses a folder that holds no results', async () => {
    const first = await shardFolder('usage-a', 1, (config) => finished(config, 10));
    expect((await runCli(['report', first, first])).stderr).toMatch(/Merging 2 results folders needs a folder to write the merged report to: add --out <dir>/);
    const empty = await scratchFolder('usage-empty');
    const refused = await runCli(['report', '--out', first, empty]);
    expect(refused.stderr).toMatch(/is not a results folder \(it has no runs\/ and no grid\.json\)/);
    expect(refused.code).toBe(2);
  });
});
