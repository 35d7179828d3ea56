#!/usr/bin/env node
// Docs that must stay true to the code, checked by CI (.ci/run) rather than by unit tests that pin
// README text: the README's main job is a command that exists, and every option the bench README's
// table names is an option of `mlaan-bench`. Needs the bench built (apps/bench/dist). Prints
// "check-docs: N passed, M failed" and exits non-zero on a failure.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

// 2. Every option in the options table of apps/bench/README.md is an option of `run` or `ablation`.
const help = [[], ['run'], ['ablation']]
  .map((command) => execFileSync(process.execPath, [join(root, 'apps/bench/dist/cli.js'), ...command, '--help'], { encoding: 'utf8' }))
  .join('\n');
const known = new Set(help.match(/--[a-z][\w-]*/g));
const table = read('apps/bench/README.md')
  .split('\n')
  .filter((line) => line.startsWith('| `-'))
  .map((line) => line.split('|')[1]);
const named = [...new Set(table.flatMap((cell) => cell.match(/--[a-z][\w-]*/g) ?? []))];
check('apps/bench/README.md names options in its table', named.length > 10 ? undefined : `only ${named.length} found`);
for (const option of named) check(`apps/bench/README.md's ${option} is a mlaan-bench option`, known.has(option) ? undefined : 'not in mlaan-bench, run or ablation --help');

const failed = results.filter((result) => result.problem).length;
console.log(`check-docs: ${results.length - failed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
