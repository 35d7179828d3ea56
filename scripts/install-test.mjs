#!/usr/bin/env node
// Install test: proves that the published packages work the way a user gets them, not only inside
// the workspace (where every @mlaan package is symlinked and every root devDependency is hoisted).
//
// 1. `npm pack`s each publishable workspace package into a temporary folder with no build step
//    before it, as a release does: each package's `prepack` script must build its dist/ (turbo;
//    cached when up to date), and every file its bin launchers import must be in the tarball,
// 2. (nothing else is built: what is tested is what `npm pack` / `npm publish` produce),
// 3. for every scenario, creates a fresh project in os.tmpdir(), outside the workspace, and installs
//    only the tarballs of the packages the scenario names plus their declared (non-optional) peers
//    and the backend it asks for, then runs small JavaScript and TypeScript programs there.
//
// The @mlaan packages are not on the registry, so a package's own @mlaan dependencies must come
// from the tarballs too. The project's `overrides` map each of them to its tarball; overrides only
// act on dependency edges that exist, so a package that forgets to declare a dependency still
// fails here exactly as it would for a user. The lockfile is then checked: every @mlaan package
// must resolve to a tarball (a registry copy of a same-named package would hide a broken one).
//
// Usage: node scripts/install-test.mjs [--skip-build] [--tarballs=DIR] [--keep] [--only=a,b] [--verbose]
//   --skip-build  accepted for older command lines; changes nothing (packing builds, via prepack)
//   --tarballs    test the .tgz files in DIR (e.g. the ones about to be published) instead of
//                 building and packing the workspace; DIR must hold one per publishable package
//   --keep        keep the temporary projects and print where they are
//   --only        run only the named scenarios (see SCENARIOS below)
//   --verbose     print every command's output, not only a failing one's
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readmePrograms } from './readme-blocks.mjs';

const workspaceRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flags = {
  skipBuild: argv.includes('--skip-build'),
  keep: argv.includes('--keep'),
  verbose: argv.includes('--verbose'),
  only: argv.find((argument) => argument.startsWith('--only='))?.slice('--only='.length).split(',').filter(Boolean),
  tarballs: argv.find((argument) => argument.startsWith('--tarballs='))?.slice('--tarballs='.length),
};
const unknownFlags = argv.filter((argument) => !/^--(skip-build|keep|verbose|only=.*|tarballs=.+)$/.test(argument));
if (unknownFlags.length > 0) {
  console.error(`install-test: unknown argument(s) ${unknownFlags.join(' ')}; use --skip-build, --tarballs=DIR, --keep, --verbose, --only=a,b`);
  process.exit(2);
}

const NPM_INSTALL_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];
// The TypeScript a user compiles with; the same version the workspace builds with.
const TYPESCRIPT_VERSION = '5.9.3';
const COMMAND_TIMEOUT_MS = 180_000;

class InstallTestError extends Error {}

// ---------------------------------------------------------------------------------------------
// Workspace discovery

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Every workspace package (the root's `workspaces` globs are of the form `dir/*`). */
function workspacePackages() {
  const rootManifest = readJson(path.join(workspaceRoot, 'package.json'));
  const packages = [];
  for (const pattern of rootManifest.workspaces ?? []) {
    if (!pattern.endsWith('/*')) throw new InstallTestError(`workspace pattern '${pattern}' is not of the form dir/*; extend workspacePackages()`);
    const parent = path.join(workspaceRoot, pattern.slice(0, -2));
    if (!existsSync(parent)) continue;
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      const manifestFile = path.join(parent, entry.name, 'package.json');
      if (!entry.isDirectory() || entry.name === 'node_modules' || !existsSync(manifestFile)) continue;
      packages.push({ directory: path.dirname(manifestFile), manifest: readJson(manifestFile) });
    }
  }
  return packages;
}

const rootManifest = readJson(path.join(workspaceRoot, 'package.json'));
const allPackages = workspacePackages();
const publishable = new Map(allPackages.filter((p) => !p.manifest.private).map((p) => [p.manifest.name, p]));

/** The named packages plus every publishable workspace package they depend on, transitively. */
function internalClosure(names) {
  const closure = new Set();
  const visit = (name) => {
    if (closure.has(name)) return;
    const entry = publishable.get(name);
    if (!entry) throw new InstallTestError(`scenario names ${name}, which is not a publishable workspace package`);
    closure.add(name);
    for (const dependency of Object.keys(entry.manifest.dependencies ?? {})) {
      if (publishable.has(dependency)) visit(dependency);
    }
  };
  names.forEach(visit);
  return closure;
}

/** `name@version` for the non-optional peers of the named packages; versions as the workspace pins them. */
function declaredPeers(names) {
  const peers = new Map();
  for (const name of names) {
    const { peerDependencies = {}, peerDependenciesMeta = {} } = publishable.get(name).manifest;
    for (const [peer, range] of Object.entries(peerDependencies)) {
      if (peerDependenciesMeta[peer]?.optional || publishable.has(peer)) continue;
      peers.set(peer, rootManifest.devDependencies?.[peer] ?? range);
    }
  }
  return [...peers].map(([peer, version]) => `${peer}@${version}`);
}

// ---------------------------------------------------------------------------------------------
// Running commands

function run(command, args, { cwd, env = {}, timeoutMs = COMMAND_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: -1, output: `${output}\n${error.message}`, seconds: (Date.now() - started) / 1000, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? 124 : code, output, seconds: (Date.now() - started) / 1000, timedOut });
    });
  });
}

/** The last lines of a command's output, each cut short (Node echoes a minified line on a crash). */
function tail(text, lines = 40) {
  const all = text.trimEnd().split('\n').map((line) => (line.length > 300 ? `${line.slice(0, 300)} …` : line));
  return (all.length > lines ? ['…', ...all.slice(-lines)] : all).map((line) => `    ${line}`).join('\n');
}

/** Runs a command and throws with its output when it fails; `what` says what a failure means. */
async function mustRun(what, command, args, options) {
  const result = await run(command, args, options);
  if (flags.verbose && result.output.trim()) console.log(tail(result.output, 200));
  if (result.code !== 0) {
    const reason = result.timedOut ? `timed out after ${COMMAND_TIMEOUT_MS / 1000}s` : `exit code ${result.code}`;
    throw new InstallTestError(`${what} failed (${reason}): ${command} ${args.join(' ')}\n${tail(result.output)}`);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Programs run in the user projects

/** One small labelled batch; deterministic so a failure reproduces. */
const SYNTHETIC_BATCH = `
function syntheticBatch(batchSize, seed) {
  const values = new Float32Array(batchSize * 32 * 32 * 3);
  let state = seed;
  for (let index = 0; index < values.length; index++) {
    state = (state * 1664525 + 1013904223) % 4294967296;
    values[index] = state / 4294967296 * 2 - 1;
  }
  const labels = Array.from({ length: batchSize }, (_, index) => index % 10);
  return {
    inputs: tf.tensor4d(values, [batchSize, 32, 32, 3]),
    labels: tf.tensor1d(labels, 'int32'),
    normalization: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  };
}`;

/** Steps a trainer and checks what a user would: finite losses, moving weights, no leaked tensors. */
const TRAIN_AND_CHECK = `
function snapshot(trainer) {
  return new Map(trainer.namedParameters().map(([name, variable]) => [name, variable.dataSync().slice()]));
}
async function trainAndCheck(trainer, steps, label) {
  const before = snapshot(trainer);
  let tensorsAfterFirstStep = -1;
  for (let step = 0; step < steps; step++) {
    const batch = syntheticBatch(8, step + 1);
    const started = Date.now();
    // The step returns at once; its losses are read from the device by result.read().
    const result = await trainer.step(batch).read();
    tf.dispose([batch.inputs, batch.labels]);
    const terms = Object.entries(result.losses);
    console.log(\`\${label}: step \${step} loss \${result.loss.toFixed(4)} (\${terms.length} terms, \${Date.now() - started} ms)\`);
    if (terms.length === 0 || !terms.every(([, value]) => Number.isFinite(value)) || !Number.isFinite(result.loss)) {
      throw new Error(\`\${label}: step \${step} gave non-finite or no losses: \${JSON.stringify(result.losses)}\`);
    }
    if (step === 0) tensorsAfterFirstStep = tf.memory().numTensors;
  }
  if (tf.memory().numTensors !== tensorsAfterFirstStep) {
    throw new Error(\`\${label}: tensors leak: \${tensorsAfterFirstStep} after step 0, \${tf.memory().numTensors} after step \${steps - 1}\`);
  }
  const after = snapshot(trainer);
  const unchanged = [...before].filter(([name, values]) => after.get(name).every((value, index) => value === values[index]));
  const backboneUnchanged = unchanged.filter(([name]) => /^(conv1|bn1|layer\\d|fc)\\./.test(name)).map(([name]) => name);
  if (backboneUnchanged.length > 0) throw new Error(\`\${label}: backbone parameters did not move: \${backboneUnchanged.join(', ')}\`);
  return { parameters: after.size, unchanged: unchanged.length };
}`;

/** Shared by the training programs; a plain ES module with a hand-written .d.mts, as users write them. */
const HELPERS_MJS = `import * as tf from '@tensorflow/tfjs-core';
export ${SYNTHETIC_BATCH.trim()}
export ${TRAIN_AND_CHECK.trim().replace('async function trainAndCheck', 'export async function trainAndCheck')}
`;
const HELPERS_DMTS = `import type { Batch, LocalTrainer } from '@mlaan/core';
export declare function syntheticBatch(batchSize: number, seed: number): Batch;
export declare function trainAndCheck(trainer: LocalTrainer, steps: number, label: string): Promise<{ parameters: number; unchanged: number }>;
`;

/** (a) TypeScript, compiled by tsc against the published .d.ts, then run by Node. */
const INFOPRO_MLAAN_TS = `import * as tf from '@tensorflow/tfjs-core';
import { getSplit, LocalTrainer, selectBackend, type Batch, type LocalLearningPlugin, type StepResult } from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { infoPro, MLAAN_LAMBDA } from '@mlaan/infopro';
import { withMLAAN } from '@mlaan/mlaan';
import { trainAndCheck } from './helpers.mjs';

const selected = await selectBackend('wasm', { log: () => {} });
if (tf.getBackend() !== 'wasm') throw new Error(\`expected the wasm backend, got \${tf.getBackend()}\`);
console.log(\`backend: \${selected.description}\`);

const plugins: LocalLearningPlugin[] = [infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' }), ...withMLAAN()];
const trainer = new LocalTrainer({
  backbone: resnet32({ classes: 10 }),
  cuts: getSplit({ net: 'resnet32', K: 4 }),
  plugins,
  optimizer: { learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
  seed: 1,
});
const cascadeTerms = trainer.terms.filter((term) => term.role === 'cascade');
if (cascadeTerms.length === 0) throw new Error('withMLAAN() added no cascade terms: MLM is not active');
if (!trainer.namedParameters().some(([name]) => name.startsWith('lam.'))) throw new Error('withMLAAN() added no leap nets: LAM is not active');

const step: (batch: Batch) => StepResult = (batch) => trainer.step(batch);
void step;
const { parameters } = await trainAndCheck(trainer, 2, 'infopro+mlaan');
trainer.dispose();
console.log(\`infopro+mlaan: ResNet-32 K=4, \${cascadeTerms.length} cascade terms, \${parameters} parameters: ok\`);
`;

/** (b) JavaScript: LAM alone on a DGL host; MLM must not even be installed. */
const LAM_ON_DGL_MJS = `import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { getSplit, LocalTrainer, selectBackend } from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { dgl } from '@mlaan/dgl';
import { lam, leapBlocksFor } from '@mlaan/lam';
import { trainAndCheck } from './helpers.mjs';

const require = createRequire(import.meta.url);
for (const absent of ['@mlaan/mlm', '@mlaan/mlaan', '@mlaan/infopro']) {
  let found = true;
  try { require.resolve(\`\${absent}/package.json\`); } catch { found = false; }
  if (found) throw new Error(\`\${absent} is installed although only @mlaan/lam and @mlaan/dgl were asked for\`);
}

await selectBackend('wasm', { log: () => {} });
const backbone = resnet32({ classes: 10 });
const trainer = new LocalTrainer({
  backbone,
  cuts: getSplit({ net: 'resnet32', K: 8 }),
  plugins: [dgl({ head: 'linear' }), lam({ emaDecay: 0.995 })],
  optimizer: { learningRate: 0.05, momentum: 0.9 },
  seed: 2,
});
if (trainer.terms.some((term) => term.role === 'cascade')) throw new Error('LAM alone must not add cascade terms');
const leapParameters = trainer.namedParameters().filter(([name]) => name.startsWith('lam.')).length;
const emaBuffers = trainer.namedBuffers().filter(([name]) => /^lam\\.\\d+\\.ema\\./.test(name)).length;
if (leapParameters === 0 || emaBuffers === 0) throw new Error(\`LAM built no leap nets (\${leapParameters} parameters, \${emaBuffers} EMA buffers)\`);
if (leapBlocksFor(backbone, trainer.modules, 0).length === 0) throw new Error('leapBlocksFor gave module 0 no leap blocks');
await trainAndCheck(trainer, 2, 'dgl+lam');
trainer.dispose();
console.log(\`dgl+lam: ResNet-32 K=8, \${leapParameters} leap-net parameters, \${emaBuffers} EMA buffers: ok\`);
`;

/** (d) JavaScript: the third host alone, on the authors' partition. */
const AUGLOCAL_ALONE_MJS = `import { createRequire } from 'node:module';
import { LocalTrainer, selectBackend } from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { augLocal, augLocalCuts } from '@mlaan/auglocal';
import { trainAndCheck } from './helpers.mjs';

const require = createRequire(import.meta.url);
for (const absent of ['@mlaan/dgl', '@mlaan/infopro', '@mlaan/mlm', '@mlaan/lam', '@mlaan/mlaan']) {
  let found = true;
  try { require.resolve(\`\${absent}/package.json\`); } catch { found = false; }
  if (found) throw new Error(\`\${absent} is installed although only @mlaan/auglocal was asked for\`);
}

await selectBackend('wasm', { log: () => {} });
const backbone = resnet32({ classes: 10 });
const trainer = new LocalTrainer({
  backbone,
  cuts: augLocalCuts(backbone, { K: 16, depth: 2 }),
  plugins: [augLocal({ depth: 2 })],
  optimizer: { learningRate: 0.05, momentum: 0.9 },
  seed: 3,
});
const auxiliary = trainer.namedParameters().filter(([name]) => name.startsWith('auglocal.')).length;
if (trainer.modules.length !== 14 || auxiliary === 0) throw new Error(\`expected 14 modules with auxiliary networks, got \${trainer.modules.length} and \${auxiliary} parameters\`);
await trainAndCheck(trainer, 2, 'auglocal');
trainer.dispose();
console.log(\`auglocal: ResNet-32 in \${trainer.modules.length} modules, \${auxiliary} auxiliary-network parameter tensors: ok\`);
`;

/**
 * The oneDNN backend compiles its addon in its install script. Where oneDNN's headers are present
 * the installed package must build and run; where they are not, installing must still succeed and
 * selecting the backend must fail with the error that says what to install.
 */
const ONEDNN_MJS = `import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendNotAvailableError, selectBackend } from '@mlaan/core';
import { isAvailable } from '@mlaan/backend-onednn';

// The addon's build writes nothing outside its package (node-gyp once put node-addon-api's
// makefiles beside it, in node_modules/@mlaan/node-addon-api/).
if (existsSync('node_modules/@mlaan/node-addon-api')) throw new Error('the addon build left node_modules/@mlaan/node-addon-api outside its package');
const includeDirectories = [process.env.DNNLROOT && path.join(process.env.DNNLROOT, 'include'), '/usr/include', '/usr/local/include'];
const headersPresent = includeDirectories.some((directory) => directory && existsSync(path.join(directory, 'oneapi', 'dnnl', 'dnnl.hpp')));
if (!headersPresent) {
  if (isAvailable()) throw new Error('isAvailable() is true although oneDNN headers are absent: which addon did it load?');
  try {
    await selectBackend('onednn', { log: () => {} });
    throw new Error("selectBackend('onednn') succeeded without oneDNN");
  } catch (error) {
    if (!(error instanceof BackendNotAvailableError) || !/libdnnl-dev/.test(error.message)) throw error;
  }
  console.log('onednn: no oneDNN headers here; install succeeded and selectBackend names libdnnl-dev: ok');
} else {
  if (!isAvailable()) throw new Error('oneDNN headers are present but the addon built at install does not load');
  await selectBackend('onednn', { log: () => {} });
  if (tf.getBackend() !== 'onednn') throw new Error(\`selectBackend('onednn') left \${tf.getBackend()} active\`);
  const input = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);
  const filter = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2);
  const native = tf.conv2d(input, filter, 1, 'same').dataSync();
  await tf.setBackend('cpu');
  const reference = tf.conv2d(tf.tensor(input.dataSync(), input.shape), tf.tensor(filter.dataSync(), filter.shape), 1, 'same').dataSync();
  const error = Math.max(...reference.map((value, index) => Math.abs(value - native[index])));
  if (!(error < 1e-4)) throw new Error(\`onednn conv2d differs from cpu by \${error}\`);
  console.log(\`onednn: addon built at install, conv2d matches cpu (max error \${error.toExponential(1)}): ok\`);
}
`;

/**
 * The WebGPU backend with its optional peers (Dawn's `webgpu` and tfjs's WebGPU backend) installed
 * as its README says. Where the machine has a Vulkan driver (CI installs Mesa's software device)
 * a convolution's forward and filter gradient run on webgpu and match cpu, read back
 * asynchronously; where it has none, selecting the backend must fail with the error that says
 * which driver to install.
 */
const WEBGPU_MJS = `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BackendNotAvailableError, selectBackend } from '@mlaan/core';

const compute = () => {
  const input = tf.tensor4d(Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => Math.sin(i)), [2, 8, 8, 3]);
  const filter = tf.tensor4d(Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i)), [3, 3, 3, 4]);
  const { value, grads } = tf.valueAndGrads((x, w) => tf.sum(tf.square(tf.conv2d(x, w, 2, 'same'))))([input, filter]);
  return [value, ...grads];
};
let selected;
try {
  selected = await selectBackend('webgpu', { log: () => {} });
} catch (error) {
  if (!(error instanceof BackendNotAvailableError) || !/mesa-vulkan-drivers/.test(error.message)) throw error;
  if (process.env.CI) throw new Error('CI is set but WebGPU found no adapter: ' + error.message);
  console.log('webgpu: no Vulkan driver here; installing succeeded and selectBackend names mesa-vulkan-drivers: ok');
  process.exit(0);
}
const gpu = await Promise.all(tf.tidy(compute).map((t) => t.data()));
await tf.setBackend('cpu');
const cpu = tf.tidy(compute).map((t) => t.dataSync());
const error = Math.max(...cpu.map((values, k) => Math.max(...values.map((v, i) => Math.abs(v - gpu[k][i]) / Math.max(1, Math.abs(v))))));
if (!(error < 1e-4)) throw new Error('webgpu differs from cpu by ' + error);
console.log('webgpu on ' + selected.device.name + (selected.device.software ? ' (software)' : '') + ': conv2d and its gradients match cpu (max error ' + error.toExponential(1) + '): ok');
process.exit(0);
`;

/**
 * (c) Every bare import in an installed package's .js and .d.ts must be a Node built-in, the
 * package itself, or declared in its dependencies or peerDependencies. Running the programs cannot
 * show this: a user who also installs the undeclared package (here: @mlaan/core, named by every
 * scenario) gets it hoisted, and the omission only bites someone who does not.
 */
function declaredImportsMjs(packages) {
  return `import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import path from 'node:path';
const require = createRequire(import.meta.url);
const builtins = new Set(builtinModules);
const IMPORT = /(?:\\bfrom\\s*|\\bimport\\s*\\(\\s*|\\bimport\\s+|\\brequire\\s*\\(\\s*)(['"])([^'"\\s]+)\\1/g;
function files(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : files(full);
    return /\\.(m|c)?js$|\\.d\\.(m|c)?ts$/.test(entry.name) ? [full] : [];
  });
}
const problems = [];
for (const name of ${JSON.stringify(packages)}) {
  const root = path.dirname(require.resolve(name + '/package.json'));
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const declared = new Set([manifest.name, ...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
  for (const file of files(root)) {
    for (const [, , specifier] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      if (specifier.startsWith('.') || specifier.startsWith('/') || /^[a-z]+:/.test(specifier) && !specifier.startsWith('node:') ) continue;
      const bare = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
      if (builtins.has(bare) || builtins.has(bare.split('/')[0])) continue;
      const packageName = bare.startsWith('@') ? bare.split('/').slice(0, 2).join('/') : bare.split('/')[0];
      if (!declared.has(packageName)) problems.push(\`\${name}: \${path.relative(root, file)} imports '\${specifier}', which \${name} does not declare in dependencies or peerDependencies\`);
    }
  }
}
if (problems.length > 0) {
  console.error([...new Set(problems)].join('\\n'));
  process.exit(1);
}
console.log('every bare import of ${packages.length} packages is declared');
`;
}

/** (c) ESM import of every export path of every package, generated from the packed manifests. */
function importEverythingMjs(packages) {
  const entries = [];
  for (const name of packages) {
    for (const subpath of exportSubpaths(publishable.get(name).manifest)) entries.push(subpath === '.' ? name : `${name}/${subpath.slice(2)}`);
  }
  return `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const specifiers = ${JSON.stringify(entries, null, 2)};
const failures = [];
for (const specifier of specifiers) {
  try {
    const module = await import(specifier);
    const names = Object.keys(module);
    if (names.length === 0) throw new Error('it exports nothing');
    console.log(\`import \${specifier}: \${names.length} exports\`);
  } catch (error) {
    failures.push(\`\${specifier}: \${error.message.split('\\n')[0]}\`);
  }
}
for (const name of ${JSON.stringify(packages)}) {
  const manifest = require(\`\${name}/package.json\`);
  if (manifest.name !== name) failures.push(\`\${name}/package.json is \${manifest.name}'s\`);
}
if (failures.length > 0) {
  console.error('These package entry points do not import in ESM:\\n  ' + failures.join('\\n  '));
  process.exit(1);
}
console.log(\`imported \${specifiers.length} entry points of ${packages.length} packages\`);
`;
}

/** (c) A .ts that uses a value and a type from every entry point: each must resolve to its .d.ts. */
function typeCheckEverythingTs(packages) {
  const lines = [];
  let index = 0;
  for (const name of packages) {
    for (const subpath of exportSubpaths(publishable.get(name).manifest)) {
      const specifier = subpath === '.' ? name : `${name}/${subpath.slice(2)}`;
      lines.push(`import * as entry${index} from '${specifier}';`);
      lines.push(`export const exports${index}: readonly string[] = Object.keys(entry${index});`);
      // An entry point whose types do not resolve is `any` (caught by noImplicitAny as TS7016);
      // one that resolves to an empty module has no keys, which this catches.
      lines.push(`export type Names${index} = keyof typeof entry${index};`);
      lines.push(`const nonEmpty${index}: Names${index} extends never ? 'no exported names' : true = true; void nonEmpty${index};`);
      index++;
    }
  }
  // Some typed use of the main API, so that its types are instantiated and checked, not just named.
  lines.push(`
import type { Batch, LocalLearningPlugin, TrainerOptions } from '@mlaan/core';
import type { Backbone } from '@mlaan/core';
export function pluginsFor(host: LocalLearningPlugin, extras: readonly LocalLearningPlugin[]): TrainerOptions['plugins'] {
  return [host, ...extras];
}
export type BatchInputs = Batch['inputs'];
export type BackboneClasses = Backbone['classes'];
`);
  return lines.join('\n') + '\n';
}

/** The subpaths of a manifest's `exports` map, except ./package.json. */
function exportSubpaths(manifest) {
  const { exports } = manifest;
  if (exports == null) return ['.'];
  if (typeof exports === 'string' || !Object.keys(exports).some((key) => key.startsWith('.'))) return ['.'];
  return Object.keys(exports).filter((key) => key !== './package.json' && !key.includes('*'));
}

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022', 'DOM'], // tfjs-core's own .d.ts name DOM types (HTMLImageElement, WebGL…)
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    // Check the packages' .d.ts too: with skipLibCheck an import inside a .d.ts that does not
    // resolve silently becomes `any`, which is exactly the breakage this test is for.
    skipLibCheck: false,
  },
  include: ['*.ts'],
};

// ---------------------------------------------------------------------------------------------
// Scenarios: data, so a new package or program is one entry.

const TFJS_VERSION = rootManifest.devDependencies['@tensorflow/tfjs-core'];
// The Dawn build the repository tests with (a devDependency of @mlaan/backend-webgpu).
const WEBGPU_VERSION = readJson(path.join(workspaceRoot, 'packages', 'backend-webgpu', 'package.json')).devDependencies.webgpu;
const NODE_TYPES_VERSION = rootManifest.devDependencies['@types/node'];

const SCENARIOS = [
  {
    name: 'infopro-mlaan',
    description: '(a) TypeScript: ResNet-32 trains with InfoPro + MLAAN on the wasm backend',
    packages: ['@mlaan/core', '@mlaan/models', '@mlaan/infopro', '@mlaan/mlaan'],
    extraInstall: [`@tensorflow/tfjs-backend-wasm@${TFJS_VERSION}`, `typescript@${TYPESCRIPT_VERSION}`, `@types/node@${NODE_TYPES_VERSION}`],
    files: () => ({
      'helpers.mjs': HELPERS_MJS,
      'helpers.d.mts': HELPERS_DMTS,
      'train.ts': INFOPRO_MLAAN_TS,
      // import-all checks every .d.ts fully; here the program's own types are what matter.
      'tsconfig.json': JSON.stringify({ ...TSCONFIG, compilerOptions: { ...TSCONFIG.compilerOptions, skipLibCheck: true } }, null, 2),
    }),
    steps: [
      { what: 'type-checking and compiling train.ts against the published .d.ts', command: 'npx', args: ['--no-install', 'tsc', '-p', 'tsconfig.json'] },
      { what: 'training ResNet-32 with InfoPro + MLAAN', command: 'node', args: ['train.js'] },
    ],
  },
  {
    name: 'lam-on-dgl',
    description: '(b) JavaScript: only @mlaan/lam on a DGL host',
    packages: ['@mlaan/core', '@mlaan/models', '@mlaan/dgl', '@mlaan/lam'],
    extraInstall: [`@tensorflow/tfjs-backend-wasm@${TFJS_VERSION}`],
    files: () => ({ 'helpers.mjs': HELPERS_MJS, 'train.mjs': LAM_ON_DGL_MJS }),
    steps: [{ what: 'training ResNet-32 with DGL + LAM', command: 'node', args: ['train.mjs'] }],
  },
  {
    name: 'auglocal-alone',
    description: '(d) JavaScript: only @mlaan/auglocal, the third host, on core and models',
    packages: ['@mlaan/core', '@mlaan/models', '@mlaan/auglocal'],
    extraInstall: [`@tensorflow/tfjs-backend-wasm@${TFJS_VERSION}`],
    files: () => ({ 'helpers.mjs': HELPERS_MJS, 'train.mjs': AUGLOCAL_ALONE_MJS }),
    steps: [{ what: 'training ResNet-32 with AugLocal', command: 'node', args: ['train.mjs'] }],
  },
  {
    name: 'import-all',
    description: '(c) every package imports in ESM and type-checks against its .d.ts',
    packages: () => [...publishable.keys()],
    // The addon build has its own scenario; here the package must import without it.
    installEnv: { MLAAN_ONEDNN_SKIP_BUILD: '1' },
    extraInstall: [`@tensorflow/tfjs-backend-wasm@${TFJS_VERSION}`, `typescript@${TYPESCRIPT_VERSION}`, `@types/node@${NODE_TYPES_VERSION}`],
    files: (packages) => ({
      'import-all.mjs': importEverythingMjs(packages),
      'declared-imports.mjs': declaredImportsMjs(packages),
      'typecheck.ts': typeCheckEverythingTs(packages),
      'tsconfig.json': JSON.stringify({ ...TSCONFIG, compilerOptions: { ...TSCONFIG.compilerOptions, noEmit: true } }, null, 2),
    }),
    steps: (packages) => [
      { what: 'importing every entry point in ESM', command: 'node', args: ['import-all.mjs'] },
      { what: 'checking that every bare import is a declared dependency', command: 'node', args: ['declared-imports.mjs'] },
      { what: 'type-checking typecheck.ts against the published .d.ts (tsc --noEmit)', command: 'npx', args: ['--no-install', 'tsc', '-p', 'tsconfig.json'] },
      ...packages
        .filter((name) => publishable.get(name).manifest.bin)
        .flatMap((name) =>
          Object.keys(normalizedBins(publishable.get(name).manifest)).map((bin) => ({
            what: `running the ${bin} command of ${name} (--help)`,
            command: 'npx',
            args: ['--no-install', bin, '--help'],
          })),
        ),
    ],
  },
  {
    name: 'readme-blocks',
    description: "every ts block of the READMEs type-checks against the published .d.ts and runs as written (or says why not)",
    packages: () => [...publishable.keys()],
    installEnv: { MLAAN_ONEDNN_SKIP_BUILD: '1' },
    extraInstall: [`@tensorflow/tfjs-backend-wasm@${TFJS_VERSION}`, `typescript@${TYPESCRIPT_VERSION}`, `@types/node@${NODE_TYPES_VERSION}`],
    files: () => ({
      ...Object.fromEntries(readmePrograms(workspaceRoot).map((program) => [program.name, program.code])),
      // import-all checks every .d.ts fully; here the examples' own types are what matter.
      'tsconfig.json': JSON.stringify({ ...TSCONFIG, compilerOptions: { ...TSCONFIG.compilerOptions, skipLibCheck: true } }, null, 2),
    }),
    summary: () => {
      const programs = readmePrograms(workspaceRoot);
      const notRun = programs.filter((program) => !program.run);
      return [
        `${programs.length} README programs: ${programs.length - notRun.length} type-checked and run, ${notRun.length} type-checked only`,
        ...notRun.map((program) => `  not run: ${program.source} (${program.reason})`),
      ];
    },
    steps: () => [
      { what: 'type-checking and compiling every README block (tsc)', command: 'npx', args: ['--no-install', 'tsc', '-p', 'tsconfig.json'] },
      ...readmePrograms(workspaceRoot)
        .filter((program) => program.run)
        .map((program) => ({ what: `running ${program.source}`, command: 'node', args: [program.name.replace(/\.ts$/, '.js')] })),
    ],
  },
  {
    name: 'webgpu',
    description: '@mlaan/backend-webgpu with its optional peers runs a conv2d step on Dawn, or names the Vulkan driver to install',
    packages: ['@mlaan/core', '@mlaan/backend-webgpu'],
    extraInstall: [`webgpu@${WEBGPU_VERSION}`, `@tensorflow/tfjs-backend-webgpu@${TFJS_VERSION}`, `@tensorflow/tfjs-backend-cpu@${TFJS_VERSION}`],
    files: () => ({ 'webgpu.mjs': WEBGPU_MJS }),
    steps: [{ what: 'selecting the webgpu backend', command: 'node', args: ['webgpu.mjs'] }],
  },
  {
    name: 'onednn-native',
    description: '@mlaan/backend-onednn builds its addon at install, or fails over with the right advice',
    packages: ['@mlaan/core', '@mlaan/backend-onednn'],
    extraInstall: [],
    files: () => ({ 'onednn.mjs': ONEDNN_MJS }),
    steps: [{ what: 'selecting the onednn backend', command: 'node', args: ['onednn.mjs'] }],
  },
];

function normalizedBins(manifest) {
  if (typeof manifest.bin === 'string') return { [manifest.name.split('/').pop()]: manifest.bin };
  return manifest.bin ?? {};
}

// ---------------------------------------------------------------------------------------------
// The test

/** `npm pack` as a release packs: no build first, so each package's prepack must build it. */
async function packAll(destination) {
  const workspaceArgs = [...publishable.values()].flatMap((entry) => ['--workspace', path.relative(workspaceRoot, entry.directory)]);
  console.log(`install-test: packing ${publishable.size} packages (each builds in its prepack script)`);
  await mustRun('npm pack', 'npm', ['pack', '--pack-destination', destination, ...workspaceArgs], { cwd: workspaceRoot, timeoutMs: 900_000 });
  return readTarballs(destination);
}

/**
 * Relative modules a bin launcher imports (`import '../dist/cli.js'`): the package.json fields
 * point at the launcher only, so a tarball without dist/ would pass the field check and then fail
 * with ERR_MODULE_NOT_FOUND when a user runs the command.
 */
async function binImports(tarball, manifest) {
  const targets = [];
  for (const bin of Object.values(normalizedBins(manifest))) {
    const file = path.posix.normalize(bin);
    const source = (await mustRun(`reading ${file}`, 'tar', ['-xzOf', tarball, `package/${file}`])).output;
    for (const [, specifier] of source.matchAll(/(?:import\s*\(?|from)\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      targets.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)));
    }
  }
  return targets;
}

/**
 * Maps package names to the tarballs in `directory` and takes every manifest from its tarball
 * (what users get), checking that the files it points at were packed.
 */
async function readTarballs(directory) {
  const tarballs = new Map();
  for (const file of readdirSync(directory).filter((name) => name.endsWith('.tgz'))) {
    const tarball = path.join(directory, file);
    const listing = (await mustRun(`listing ${file}`, 'tar', ['-tzf', tarball])).output.split('\n').filter(Boolean);
    const manifest = JSON.parse((await mustRun(`reading ${file}`, 'tar', ['-xzOf', tarball, 'package/package.json'])).output);
    if (!publishable.has(manifest.name)) {
      throw new InstallTestError(`${file} holds ${manifest.name}, which is not a publishable workspace package`);
    }
    if (tarballs.has(manifest.name)) throw new InstallTestError(`${directory} holds two tarballs of ${manifest.name}`);
    tarballs.set(manifest.name, tarball);
    publishable.get(manifest.name).manifest = manifest;
    const required = [...requiredFiles(manifest), ...(await binImports(tarball, manifest))];
    const missing = required.filter((target) => !listing.includes(`package/${target}`));
    if (missing.length > 0) {
      throw new InstallTestError(`${manifest.name}'s tarball lacks ${missing.join(', ')}, which its package.json or bin launcher points at: its prepack script must build it, or fix "files"/"exports"`);
    }
  }
  for (const name of publishable.keys()) {
    if (!tarballs.has(name)) throw new InstallTestError(`there is no tarball of ${name} in ${directory}`);
  }
  return tarballs;
}

/** Files that package.json's main/types/exports/bin point at (without wildcards). */
function requiredFiles(manifest) {
  const targets = new Set();
  const collect = (value) => {
    if (typeof value === 'string') {
      if (!value.includes('*')) targets.add(path.posix.normalize(value));
    } else if (value && typeof value === 'object') Object.values(value).forEach(collect);
  };
  collect(manifest.main);
  collect(manifest.types);
  collect(manifest.exports);
  collect(normalizedBins(manifest));
  targets.delete('package.json');
  return [...targets];
}

async function runScenario(scenario, tarballs, temporaryRoot) {
  const packages = typeof scenario.packages === 'function' ? scenario.packages() : scenario.packages;
  const project = mkdtempSync(path.join(temporaryRoot, `${scenario.name}-`));
  const closure = internalClosure(packages);
  const overrides = {};
  for (const name of closure) overrides[name] = packages.includes(name) ? `$${name}` : `file:${tarballs.get(name)}`;
  const dependencies = Object.fromEntries(packages.map((name) => [name, `file:${tarballs.get(name)}`]));
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: `mlaan-install-test-${scenario.name}`, version: '0.0.0', private: true, type: 'module', dependencies, overrides }, null, 2),
  );
  const files = scenario.files(packages);
  for (const [file, text] of Object.entries(files)) writeFileSync(path.join(project, file), text);

  const installs = [...declaredPeers(packages), ...scenario.extraInstall];
  const install = await mustRun(`installing ${packages.join(', ')} with ${installs.join(', ')}`, 'npm', ['install', ...NPM_INSTALL_FLAGS, ...installs], {
    cwd: project,
    env: scenario.installEnv,
  });
  console.log(`  installed ${packages.length} packages (+${closure.size - packages.length} internal dependencies) in ${install.seconds.toFixed(1)}s`);
  // Missing or invalid dependencies and unmet required peers make `npm ls` fail.
  await mustRun('the dependency tree check (npm ls --all)', 'npm', ['ls', '--all'], { cwd: project });
  const lock = readJson(path.join(project, 'package-lock.json'));
  for (const [location, entry] of Object.entries(lock.packages)) {
    const name = location.replace(/^.*node_modules\//, '');
    if (!location.includes('node_modules/') || !publishable.has(name)) continue;
    if (!String(entry.resolved ?? '').startsWith('file:')) {
      throw new InstallTestError(`${location} resolved to ${entry.resolved ?? 'nothing'}, not to its tarball: a dependency range that 0.1.0 tarballs do not satisfy?`);
    }
  }
  for (const line of scenario.summary?.() ?? []) console.log(`  ${line}`);
  const steps = typeof scenario.steps === 'function' ? scenario.steps(packages) : scenario.steps;
  for (const step of steps) {
    const result = await mustRun(step.what, step.command, step.args, { cwd: project });
    const lastLine = result.output.trim().split('\n').pop();
    console.log(`  ${step.what}: ${result.seconds.toFixed(1)}s${lastLine ? ` — ${lastLine}` : ''}`);
  }
  return project;
}

async function main() {
  const started = Date.now();
  const selected = flags.only ? SCENARIOS.filter((scenario) => flags.only.includes(scenario.name)) : SCENARIOS;
  if (flags.only && selected.length !== flags.only.length) {
    console.error(`install-test: unknown scenario in --only; the scenarios are ${SCENARIOS.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  // Outside the workspace: a project under it would find the workspace's node_modules.
  const temporaryRoot = mkdtempSync(path.join(os.tmpdir(), 'mlaan-install-test-'));
  if (path.relative(workspaceRoot, temporaryRoot).split(path.sep)[0] !== '..') {
    throw new InstallTestError(`the temporary folder ${temporaryRoot} is inside the workspace; set TMPDIR to a folder outside it`);
  }
  let passed = 0;
  const failures = [];
  try {
    let tarballs;
    if (flags.tarballs) {
      tarballs = await readTarballs(path.resolve(flags.tarballs));
    } else {
      const tarballDirectory = path.join(temporaryRoot, 'tarballs');
      mkdirSync(tarballDirectory);
      tarballs = await packAll(tarballDirectory);
    }
    console.log(`install-test: packed ${tarballs.size} packages: ${[...tarballs.keys()].join(', ')}`);
    for (const scenario of selected) {
      const scenarioStarted = Date.now();
      console.log(`install-test: ${scenario.name}: ${scenario.description}`);
      try {
        await runScenario(scenario, tarballs, temporaryRoot);
        passed++;
        console.log(`  PASS ${scenario.name} (${((Date.now() - scenarioStarted) / 1000).toFixed(1)}s)`);
      } catch (error) {
        if (!(error instanceof InstallTestError)) throw error;
        failures.push(scenario.name);
        console.log(`  FAIL ${scenario.name}: ${error.message}`);
      }
    }
  } catch (error) {
    if (!(error instanceof InstallTestError)) throw error;
    console.error(`install-test: ${error.message}`);
    failures.push('setup');
  } finally {
    if (flags.keep) console.log(`install-test: projects kept in ${temporaryRoot}`);
    else rmSync(temporaryRoot, { recursive: true, force: true });
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`install-test: ${passed} passed, ${failures.length} failed${failures.length ? ` (${failures.join(', ')})` : ''} in ${seconds}s`);
  process.exit(failures.length > 0 ? 1 : 0);
}

await main();
