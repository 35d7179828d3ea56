#!/usr/bin/env node
// Docs that must stay true to the code, checked by CI (.ci/run) rather than by unit tests that pin
// README text: the README's main job is a command that exists, every option the bench README's
// table names is an option of `mlaan-bench`, the sbatch script it shows is the one
// `mlaan-bench slurm` writes, and a package that exports ES modules only says so. Needs the bench
// built (apps/bench/dist). Prints "check-docs: N passed, M failed" and exits non-zero on a failure.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path) => readFileSync(join(root, path), 'utf8');
const results = [];
function check(name, problem) {
  results.push({ name, problem });
  console.log(`${problem ? 'FAIL' : 'ok  '} ${name}${problem ? `: ${problem}` : ''}`);
}

// 1. The README's first command is the main job, and each `npm run X` in it is a script of the root package.
const readme = read('README.md');
const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
const first = block.split('\n').find((line) => line.trim() !== '' && !line.trim().startsWith('#'))?.trim();
check("README's first command is `npm run setup && npm run demo`", first === 'npm run setup && npm run demo' ? undefined : `it is \`${first}\``);
const { scripts } = JSON.parse(read('package.json'));
for (const name of [...(first ?? '').matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1])) {
  check(`README's \`npm run ${name}\` is a script of package.json`, scripts[name] ? undefined : 'no such script');
}

// 2. Every option in the option tables of apps/bench/README.md is an option of `run`, `ablation`, `slurm` or `report`.
const help = [[], ['run'], ['ablation'], ['slurm'], ['report']]
  .map((command) => execFileSync(process.execPath, [join(root, 'apps/bench/dist/cli.js'), ...command, '--help'], { encoding: 'utf8' }))
  .join('\n');
const known = new Set(help.match(/--[a-z][\w-]*/g));
const table = read('apps/bench/README.md')
  .split('\n')
  .filter((line) => line.startsWith('| `-'))
  .map((line) => line.split('|')[1]);
const named = [...new Set(table.flatMap((cell) => cell.match(/--[a-z][\w-]*/g) ?? []))];
check('apps/bench/README.md names options in its table', named.length > 10 ? undefined : `only ${named.length} found`);
for (const option of named) check(`apps/bench/README.md's ${option} is a mlaan-bench option`, known.has(option) ? undefined : 'not in mlaan-bench, run, ablation, slurm or report --help');

// 3. The sbatch script in apps/bench/README.md is what `mlaan-bench slurm` writes now, for the command
// its second line names (the committed runs' speeds give its time limit). Two lines depend on where it
// is written: the script's own path in that command, and `bench=`, the node and the checkout writing it.
const script = /```bash\n(#!\/bin\/bash\n[\s\S]*?)```/.exec(read('apps/bench/README.md'))?.[1];
const slurmCommand = /^#   mlaan-bench (slurm .*)$/m.exec(script ?? '')?.[1];
if (!script || !slurmCommand) {
  check("apps/bench/README.md shows a script of `mlaan-bench slurm`", 'no ```bash block starting #!/bin/bash with a `#   mlaan-bench slurm ...` line');
} else {
  const folder = mkdtempSync(join(tmpdir(), 'check-docs-'));
  try {
    const written = join(folder, 'grid.sbatch');
    const args = slurmCommand.split(/\s+/);
    const scriptAt = args.indexOf('--script');
    if (scriptAt >= 0) args.splice(scriptAt, 2);
    execFileSync(process.execPath, [join(root, 'apps/bench/dist/cli.js'), ...args, '--script', written], { cwd: root, stdio: 'ignore' });
    const portable = (text) => text.replace(/^(#   mlaan-bench slurm .*) --script \S+$/m, '$1 --script SCRIPT').replace(/^bench=\(.*\)$/m, 'bench=(NODE BENCH)');
    const [shown, now] = [portable(script).split('\n'), portable(readFileSync(written, 'utf8')).split('\n')];
    const line = shown.findIndex((text, i) => text !== now[i]);
    check(
      `apps/bench/README.md's sbatch script is what \`mlaan-bench ${slurmCommand}\` writes`,
      line < 0 && shown.length === now.length ? undefined : `they differ from line ${line < 0 ? Math.min(shown.length, now.length) + 1 : line + 1}: README \`${shown[line] ?? '(end)'}\`, now \`${now[line] ?? '(end)'}\` (paste the new script into the README)`,
    );
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

// 4. Every published package whose exports map has no `require` condition says in its README that
// it is ESM only (a CommonJS user's `require` fails with ERR_PACKAGE_PATH_NOT_EXPORTED).
const { workspaces } = JSON.parse(read('package.json'));
for (const folder of workspaces.filter((pattern) => pattern.endsWith('/*')).map((pattern) => pattern.slice(0, -2))) {
  for (const name of readdirSync(join(root, folder))) {
    const manifestPath = join(root, folder, name, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    if (manifest.private || JSON.stringify(manifest.exports ?? {}).includes('"require"')) continue;
    const readmeText = existsSync(join(root, folder, name, 'README.md')) ? read(join(folder, name, 'README.md')) : '';
    check(`${manifest.name}'s README says it is ESM only`, /ESM only/.test(readmeText) ? undefined : 'add "ESM only: load it with `import` …" under its install line');
  }
}
check('README.md says every package is ESM only', /ESM only/.test(readme) ? undefined : 'add it beside the package table');

const failed = results.filter((result) => result.problem).length;
console.log(`check-docs: ${results.length - failed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
