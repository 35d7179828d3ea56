import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { configId } from '../configuration/configuration-id.js';
import { expandGrid } from '../configuration/grid.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import { peakLearningRate, warmupWarning } from '../configuration/schedules.js';
import type { PresetName } from '../registry/presets.js';
import { removeScratchFolders, runCli, scratchFolder } from '../testing.js';
import { RUN_EXAMPLES } from './program.js';
import { reportCommand } from './report-command.js';

// Issue 27: the CLI as a newcomer meets it.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const committedRuns = join(repoRoot, 'benchmarks/smoke/runs');
afterAll(removeScratchFolders);

/** The value after `flag` in an example command line. */
const valueOf = (words: string[], flag: string) => {
  const index = words.indexOf(flag);
  return index < 0 ? undefined : words[index + 1];
};

describe("run --help's first example", () => {
  it('is shown, names --data-dir, and trains something meaningful: several epochs of many steps at the learning rate it names', async () => {
    const { stdout } = await runCli(['run', '--help']);
    expect(stdout).toContain(RUN_EXAMPLES[0]);
    const words = RUN_EXAMPLES[0]!.split(' ');
    expect(words).toContain('--data-dir');
    const configs = expandGrid(
      resolveSettings(valueOf(words, '--preset') as PresetName, {
        frameworks: [valueOf(words, '--framework')] as never,
        pluginSets: [valueOf(words, '--plugins')] as never,
        Ks: [Number(valueOf(words, '--K'))],
      }),
    );
    expect(configs).toHaveLength(1);
    const [config] = configs;
    // More than one epoch, so that the report draws a curve; the demo protocol's 2 epochs are 160 steps.
    expect(config!.epochs).toBeGreaterThanOrEqual(2);
    expect((config!.trainLimit ?? 50_000) / config!.batchSize).toBeGreaterThanOrEqual(20);
    expect((config!.epochs * (config!.trainLimit ?? 50_000)) / config!.batchSize).toBeGreaterThanOrEqual(100);
    expect(warmupWarning(config!)).toBeUndefined();
    expect(peakLearningRate(config!)).toBe(config!.learningRate);
  });
});

describe('report without --out', () => {
  /** `<root>/mlaan-bench-results/<name>/runs/<one committed run>`, as `npm run demo` leaves it. */
  async function resultsIn(root: string, ...names: string[]): Promise<string> {
    const defaultFolder = join(root, 'mlaan-bench-results');
    for (const name of names) {
      const run = 'cifar10-resnet32-e2e-none-k1-s0-90d8d5ce';
      await cp(join(committedRuns, run), join(defaultFolder, name, 'runs', run), { recursive: true });
    }
    await mkdir(defaultFolder, { recursive: true });
    return defaultFolder;
  }
  const io = () => {
    const printed = { stdout: '', stderr: '' };
    return { printed, io: { stdout: { write: (t: string) => (printed.stdout += t) }, stderr: { write: (t: string) => (printed.stderr += t) } } };
  };

  it("finds the one folder inside the default that holds results (the demo's) and reports it", async () => {
    const folder = await resultsIn(await scratchFolder('report-demo'), 'demo');
    const { printed, io: streams } = io();
    await reportCommand(folder, false, [], ['report'], streams);
    expect(printed.stderr).toMatch(/No finished configuration in .*mlaan-bench-results\/runs; reporting .*mlaan-bench-results\/demo, which holds results/);
    expect(printed.stdout).toContain(`Wrote ${join(folder, 'demo')}/report.html`);
    expect(await readFile(join(folder, 'demo', 'report.html'), 'utf8')).toContain('<svg');
  });

  it('names the folders when several hold results, or says where to look when none does', async () => {
    const folder = await resultsIn(await scratchFolder('report-several'), 'demo', 'smoke');
    await expect(reportCommand(folder, false, [], ['report'], io().io)).rejects.toThrow(/these folders inside it hold results: .*demo, .*smoke\. Give one with --out/);
    const empty = await resultsIn(await scratchFolder('report-none'));
    await expect(reportCommand(empty, false, [], ['report'], io().io)).rejects.toThrow(/No finished configuration in .*runs\. Give the folder a run wrote with --out .*npm run demo/);
  });
});

describe('a rerun that skips finished configurations', () => {
  it('says how to train them again (--force)', async () => {
    const out = await scratchFolder('skip');
    const argv = ['run', '--epochs', '1', '--train-limit', '16', '--test-limit', '16', '--schedule', 'constant', '--backend', 'cpu', '--progress', 'lines', '--out', out];
    // A finished result of exactly this configuration (numbers from a committed run).
    const [config] = expandGrid(resolveSettings(undefined, { epochs: 1, trainLimit: 16, testLimit: 16, schedule: 'constant', backend: 'cpu' }));
    const id = configId(config!);
    const committed = JSON.parse(await readFile(join(committedRuns, 'cifar10-resnet32-e2e-none-k1-s0-90d8d5ce', 'result.json'), 'utf8'));
    await mkdir(join(out, 'runs', id), { recursive: true });
    await writeFile(join(out, 'runs', id, 'result.json'), JSON.stringify({ ...committed, id, config }));
    const { code, stderr } = await runCli(argv);
    expect(stderr).toContain('already finished, skipped');
    expect(stderr).toContain('1 configuration(s) had finished in an earlier run and were skipped (their results are kept). Add --force to train them again.');
    expect(code).toBe(0);
  });
});
