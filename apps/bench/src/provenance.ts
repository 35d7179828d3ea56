import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Provenance } from './results/result-format.js';

/** Packages whose versions decide what a run computed. */
const PACKAGES = [
  '@mlaan/core',
  '@mlaan/models',
  '@mlaan/data',
  '@mlaan/dgl',
  '@mlaan/infopro',
  '@mlaan/mlm',
  '@mlaan/lam',
  '@mlaan/mlaan',
  '@mlaan/backend-onednn',
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
];

function git(args: string[], cwd: string): string | null {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return null;
  }
}

/** The git commit and package versions a run used; what is not installed is left out. */
export function describeProvenance(): Provenance {
  const here = dirname(fileURLToPath(import.meta.url));
  const require = createRequire(import.meta.url);
  const packages: Record<string, string> = {};
  const bench = require('../package.json') as { version: string };
  packages['@mlaan/bench'] = bench.version;
  for (const name of PACKAGES) {
    try {
      packages[name] = (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      // Not installed (an optional backend): nothing to record.
    }
  }
  const gitCommit = git(['rev-parse', 'HEAD'], here);
  const status = gitCommit ? git(['status', '--porcelain', '--untracked-files=no'], here) : null;
  return { gitCommit, gitDirty: status === null ? null : status !== '', packages, node: process.version };
}
