import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FRAMEWORK_NAMES, frameworkDefinition } from './registry/frameworks.js';
import { PLUGIN_SETS } from './registry/plugin-sets.js';

/** Packages whose versions decide what a run computed: the hosts' and plugins' from the registry. */
const PACKAGES = [
  '@mlaan/core',
  '@mlaan/models',
  '@mlaan/data',
  ...new Set([
    ...FRAMEWORK_NAMES.flatMap((name) => frameworkDefinition(name).packageName ?? []),
    ...Object.values(PLUGIN_SETS).flatMap((set) => set.packageNames),
  ]),
  '@mlaan/backend-onednn',
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
];

export interface Provenance {
  /** `git rev-parse HEAD` of the checkout the bench ran from; null outside a git checkout. */
  gitCommit: string | null;
  /** True when that checkout had uncommitted changes. */
  gitDirty: boolean | null;
  /** Versions of the @mlaan packages and tfjs the run used. */
  packages: Record<string, string>;
  node: string;
}

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
