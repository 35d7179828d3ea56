// The TypeScript code blocks of the READMEs users read (the root README and every published
// package's), as programs: scripts/install-test.mjs type-checks every one against the packed
// packages and runs those that can run as written, so an example can never break unnoticed.
//
// A ```ts block is a whole program that must type-check and run, unless the line before its fence
// (blank lines aside) is one of these markers:
//
//   <!-- readme-check: typecheck-only: <why it cannot run here> -->
//       type-checked, not run (it downloads a dataset, needs a GPU, trains for hours)
//   <!-- readme-check: continues -->
//       the rest of the program of the README's block before it (checked, and run if that one is)
//   <!-- readme-check: file <name>.ts -->
//       a module other blocks import (`./<name>.js`), written under that name and type-checked
//
// A marker that does not parse, or a `continues` with no block before it, is an error: the
// reader must be able to see why a block is not run.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const FENCE = /^```(\S*)\s*$/;
const MARKER = /^<!--\s*readme-check:\s*(.*?)\s*-->$/;

/** The READMEs checked: the root one and each package's and app's (packages/*, apps/*). */
export function readmeFiles(root) {
  const files = [path.join(root, 'README.md')];
  for (const folder of ['packages', 'apps']) {
    const parent = path.join(root, folder);
    for (const name of readdirSync(parent).sort()) {
      const readme = path.join(parent, name, 'README.md');
      if (existsSync(readme)) files.push(readme);
    }
  }
  return files;
}

/** The ```ts blocks of one README: { line, code, marker } (marker: the parsed comment before the fence). */
export function tsBlocks(text, source) {
  const lines = text.split('\n');
  const blocks = [];
  for (let index = 0; index < lines.length; index++) {
    const open = FENCE.exec(lines[index]);
    if (!open) continue;
    let end = index + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    if (end >= lines.length) throw new Error(`${source}:${index + 1}: a code block that is never closed`);
    if (open[1] === 'ts' || open[1] === 'typescript') {
      let previous = index - 1;
      while (previous >= 0 && lines[previous].trim() === '') previous--;
      const comment = previous >= 0 ? MARKER.exec(lines[previous].trim()) : null;
      blocks.push({ line: index + 1, code: lines.slice(index + 1, end).join('\n') + '\n', marker: comment ? parseMarker(comment[1], `${source}:${previous + 1}`) : { kind: 'run' } });
    }
    index = end;
  }
  return blocks;
}

function parseMarker(text, where) {
  const typecheckOnly = /^typecheck-only:\s*(\S.*)$/.exec(text);
  if (typecheckOnly) return { kind: 'typecheck-only', reason: typecheckOnly[1] };
  if (text === 'continues') return { kind: 'continues' };
  const file = /^file\s+([\w.-]+\.ts)$/.exec(text);
  if (file) return { kind: 'file', name: file[1] };
  throw new Error(`${where}: unknown readme-check marker '${text}'; use 'typecheck-only: <reason>', 'continues' or 'file <name>.ts'`);
}

/**
 * Every README's blocks as files of one project: `{ name, source, code, run, reason }`, where
 * `name` is the .ts file, `source` says where the code comes from (README and lines), `run` whether
 * to execute it after type-checking, and `reason` why not.
 */
export function readmePrograms(root) {
  const programs = [];
  for (const readme of readmeFiles(root)) {
    const relative = path.relative(root, readme);
    const prefix = relative === 'README.md' ? 'root' : path.basename(path.dirname(readme));
    let current;
    for (const block of tsBlocks(readFileSync(readme, 'utf8'), relative)) {
      const { marker } = block;
      if (marker.kind === 'continues') {
        if (!current) throw new Error(`${relative}:${block.line}: 'continues' but no program before it in this README`);
        current.code += `\n// ${relative}:${block.line}\n${block.code}`;
        current.source += `, ${block.line}`;
        continue;
      }
      const name = marker.kind === 'file' ? marker.name : `${prefix}-${block.line}.ts`;
      current = {
        name,
        source: `${relative}:${block.line}`,
        code: `// ${relative}:${block.line}\n${block.code}`,
        run: marker.kind === 'run',
        reason: marker.kind === 'typecheck-only' ? marker.reason : marker.kind === 'file' ? 'a module the other blocks import' : undefined,
      };
      programs.push(current);
    }
  }
  const names = programs.map((program) => program.name);
  const repeated = names.filter((name, index) => names.indexOf(name) !== index);
  if (repeated.length > 0) throw new Error(`two README blocks are written as ${[...new Set(repeated)].join(', ')}`);
  return programs;
}
