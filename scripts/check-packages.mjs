#!/usr/bin/env node
// Package hygiene for every publishable workspace package, on the tarball npm would publish:
//
// - publint: package.json fields against the packed files (exports, types, files, sideEffects…);
//   every message fails, suggestions included.
// - @arethetypeswrong/cli (attw) with the `esm-only` profile: the packages are ESM only, so the
//   CommonJS resolutions (node10, node16 from CJS) are not checked; node16 from ESM and bundler are.
// - the manifest rules of this repository (CONTRIBUTING.md, "Package conventions"): license,
//   engines, repository, files, an exports map with types, sideEffects, a README that says how to
//   install, TensorFlow.js as a peer and no backend as a hard dependency.
//
// An exception is a line in the package's README, under a heading that contains "Package checks":
//
//   - `attw:cjs-resolves-to-esm` — why it is fine for this package
//   - `publint:FILE_DOES_NOT_EXIST` — why …
//   - `manifest:side-effects` — why …
//
// (tool:rule, then a dash and the reason; a line without a reason is an error). attw rules are its
// --ignore-rules names, publint rules its message codes, manifest rules the names printed below.
//
// Usage: node scripts/check-packages.mjs [--skip-build] [--only=@mlaan/core,@mlaan/lam]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const workspaceRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const skipBuild = argv.includes('--skip-build');
const ROOT_NODE_ENGINES = JSON.parse(readFileSync(path.join(workspaceRoot, 'package.json'), 'utf8')).engines.node;
const only = argv.find((argument) => argument.startsWith('--only='))?.slice('--only='.length).split(',').filter(Boolean);
const unknown = argv.filter((argument) => !/^--(skip-build|only=.+)$/.test(argument));
if (unknown.length > 0) {
  console.error(`check-packages: unknown argument(s) ${unknown.join(' ')}; use --skip-build, --only=@mlaan/a,@mlaan/b`);
  process.exit(2);
}

const ATTW_PROFILE = 'esm-only';
const TOOLS = new Set(['attw', 'publint', 'manifest']);
// Backends are peers: a hard dependency would install a second tfjs backend (or a native
// download, for tfjs-node) into every user's project.
const BACKEND_PACKAGES = /^@tensorflow\/tfjs-(backend-|node)/;

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function run(command, args, cwd = workspaceRoot) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (error) => resolve({ code: -1, output: `${output}${error.message}` }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

function indent(text) {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/** Publishable workspace packages (the root's `workspaces` are `dir/*` globs). */
function publishablePackages() {
  const rootManifest = readJson(path.join(workspaceRoot, 'package.json'));
  const found = [];
  for (const pattern of rootManifest.workspaces ?? []) {
    const parent = path.join(workspaceRoot, pattern.replace(/\/\*$/, ''));
    if (!existsSync(parent)) continue;
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      const manifestFile = path.join(parent, entry.name, 'package.json');
      if (!entry.isDirectory() || entry.name === 'node_modules' || !existsSync(manifestFile)) continue;
      const manifest = readJson(manifestFile);
      if (!manifest.private) found.push({ directory: path.dirname(manifestFile), manifest });
    }
  }
  return found;
}

/** The exceptions a package's README documents, as a Map of 'tool:rule' to the reason. */
function documentedExceptions(directory) {
  const readmeFile = path.join(directory, 'README.md');
  const exceptions = new Map();
  const problems = [];
  if (!existsSync(readmeFile)) return { exceptions, problems };
  let inSection = false;
  for (const line of readFileSync(readmeFile, 'utf8').split('\n')) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) {
      inSection = /package checks/i.test(heading[1]);
      continue;
    }
    if (!inSection) continue;
    const item = /^\s*[-*]\s+`([a-z]+):([A-Za-z0-9_-]+)`\s*(?:[—–:-]+\s*(.*))?$/.exec(line);
    if (!item) continue;
    const [, tool, rule, reason] = item;
    if (!TOOLS.has(tool)) problems.push(`README exception \`${tool}:${rule}\` names an unknown tool; use attw, publint or manifest`);
    else if (!reason?.trim()) problems.push(`README exception \`${tool}:${rule}\` gives no reason; write "- \`${tool}:${rule}\` — why"`);
    else exceptions.set(`${tool}:${rule}`, reason.trim());
  }
  return { exceptions, problems };
}

/** This repository's manifest conventions; each finding is [rule, message]. */
function manifestFindings(manifest, packedFiles) {
  const findings = [];
  const add = (rule, message) => findings.push([rule, message]);
  if (manifest.type !== 'module') add('esm', '"type" must be "module" (the packages are ESM only)');
  if (manifest.license !== 'MIT') add('license', `"license" is ${JSON.stringify(manifest.license)}, expected "MIT"`);
  if (!manifest.engines?.node) add('engines', '"engines.node" is missing (the Node versions this package supports)');
  else if (manifest.engines.node !== ROOT_NODE_ENGINES) {
    add('engines', `"engines.node" is ${JSON.stringify(manifest.engines.node)}; every package supports the Node versions the repository does (${JSON.stringify(ROOT_NODE_ENGINES)}, root package.json)`);
  }
  // npm runs prepack before `npm pack` and `npm publish`: a tarball must never miss its dist/.
  if (!/\b(turbo run build|tsup|npm run build)\b/.test(manifest.scripts?.prepack ?? '')) {
    add('prepack', `"scripts.prepack" must build dist/ (e.g. "turbo run build --filter=${manifest.name}..."), so that packing without a prior build still ships it`);
  }
  const repository = manifest.repository;
  if (typeof repository !== 'object' || !repository.url || !repository.directory) {
    add('repository', '"repository" needs { type, url, directory } so npm links to this package\'s folder');
  }
  if (!Array.isArray(manifest.files) || manifest.files.length === 0) add('files', '"files" must list what is published (dist, README.md)');
  if (!('sideEffects' in manifest)) add('side-effects', '"sideEffects" must say whether importing the package has side effects (false, or the files that do)');
  const exportsMap = manifest.exports;
  if (exportsMap == null || typeof exportsMap !== 'object') {
    add('exports', '"exports" must be a map with "types" and "import" per entry point');
  } else {
    for (const [subpath, target] of Object.entries(exportsMap)) {
      if (subpath === './package.json') continue;
      if (typeof target !== 'object' || target === null || !target.types || !(target.import || target.default)) {
        add('exports', `"exports"["${subpath}"] must be { "types": …, "import": … }`);
      } else if (Object.keys(target)[0] !== 'types') {
        add('exports', `"exports"["${subpath}"]: "types" must come first (TypeScript takes the first matching condition)`);
      }
    }
    if (!('./package.json' in exportsMap)) add('exports', '"exports" should expose "./package.json" (tools read it)');
  }
  if (!packedFiles.includes('README.md')) add('readme', 'README.md is not in the tarball');
  for (const [dependency] of Object.entries(manifest.dependencies ?? {})) {
    if (dependency === '@tensorflow/tfjs-core') add('tfjs-peer', '@tensorflow/tfjs-core must be a peerDependency (one tfjs engine per process), not a dependency');
    if (BACKEND_PACKAGES.test(dependency)) add('backend-peer', `${dependency} is a dependency; backends must be (optional) peerDependencies`);
  }
  return findings;
}

async function packedFileList(tarball) {
  const listing = await run('tar', ['-tzf', tarball]);
  if (listing.code !== 0) throw new Error(`cannot list ${tarball}: ${listing.output}`);
  return listing.output
    .split('\n')
    .filter(Boolean)
    .map((file) => file.replace(/^package\//, ''));
}

async function checkReadmeSaysInstall(tarball, name) {
  const readme = await run('tar', ['-xzOf', tarball, 'package/README.md']);
  if (readme.code !== 0) return false;
  return readme.output.includes(`npm install`) && readme.output.includes(name);
}

async function main() {
  const started = Date.now();
  let packages = publishablePackages();
  if (only) {
    const missing = only.filter((name) => !packages.some((entry) => entry.manifest.name === name));
    if (missing.length > 0) {
      console.error(`check-packages: ${missing.join(', ')} is not a publishable workspace package`);
      process.exit(2);
    }
    packages = packages.filter((entry) => only.includes(entry.manifest.name));
  }
  if (!skipBuild) {
    console.log(`check-packages: building ${packages.length} packages (turbo run build)`);
    const build = await run('npx', ['--no-install', 'turbo', 'run', 'build', '--output-logs=errors-only', ...packages.map((entry) => `--filter=${entry.manifest.name}`)]);
    if (build.code !== 0) {
      console.error(`check-packages: the build failed:\n${indent(build.output)}`);
      process.exit(1);
    }
  }
  const { publint } = await import('publint');
  const { formatMessage } = await import('publint/utils');

  const temporary = mkdtempSync(path.join(os.tmpdir(), 'mlaan-check-packages-'));
  const failed = [];
  try {
    const pack = await run('npm', ['pack', '--json', '--pack-destination', temporary, ...packages.flatMap((entry) => ['--workspace', path.relative(workspaceRoot, entry.directory)])]);
    if (pack.code !== 0) throw new Error(`npm pack failed:\n${indent(pack.output)}`);
    const packed = JSON.parse(pack.output.slice(pack.output.indexOf('['), pack.output.lastIndexOf(']') + 1));
    const tarballOf = new Map(packed.map((entry) => [entry.name, path.join(temporary, entry.filename)]));

    for (const { directory, manifest } of packages) {
      const name = manifest.name;
      const tarball = tarballOf.get(name);
      const { exceptions, problems } = documentedExceptions(directory);
      const used = new Set();
      const isExcepted = (key) => (exceptions.has(key) ? (used.add(key), true) : false);

      // publint, on the same tarball.
      const bytes = readFileSync(tarball);
      const tarballData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      const lint = await publint({ pkgDir: 'package', pack: { tarball: tarballData }, level: 'suggestion', strict: false });
      for (const message of lint.messages) {
        if (isExcepted(`publint:${message.code}`)) continue;
        problems.push(`publint ${message.type} ${message.code}: ${formatMessage(message, lint.pkg, { color: false }) ?? message.code}`);
      }

      // attw; README exceptions become --ignore-rules.
      const ignoredRules = [...exceptions.keys()].filter((key) => key.startsWith('attw:')).map((key) => key.slice('attw:'.length));
      ignoredRules.forEach((rule) => used.add(`attw:${rule}`));
      const attwArgs = ['--no-install', 'attw', tarball, '--profile', ATTW_PROFILE, '--format', 'table-flipped', '--no-color', '--no-emoji'];
      if (ignoredRules.length > 0) attwArgs.push('--ignore-rules', ...ignoredRules);
      const attw = await run('npx', attwArgs);
      if (attw.code !== 0) problems.push(`attw (profile ${ATTW_PROFILE}) found problems:\n${indent(attw.output)}`);

      // This repository's conventions.
      const files = await packedFileList(tarball);
      for (const [rule, message] of manifestFindings(manifest, files)) {
        if (!isExcepted(`manifest:${rule}`)) problems.push(`manifest:${rule}: ${message}`);
      }
      if (files.includes('README.md') && !(await checkReadmeSaysInstall(tarball, name)) && !isExcepted('manifest:readme-install')) {
        problems.push(`manifest:readme-install: README.md does not show how to install it (no \`npm install … ${name}\`)`);
      }

      for (const key of exceptions.keys()) {
        if (!used.has(key)) problems.push(`README exception \`${key}\` matches no finding any more; remove it`);
      }
      if (problems.length === 0) {
        const notes = [...exceptions].map(([key, reason]) => `${key} (${reason})`).join('; ');
        console.log(`ok    ${name}${notes ? `  — documented exceptions: ${notes}` : ''}`);
      } else {
        failed.push(name);
        console.log(`FAIL  ${name}\n${problems.map((problem) => indent(`- ${problem}`)).join('\n')}`);
      }
    }
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`check-packages: ${packages.length - failed.length} passed, ${failed.length} failed${failed.length ? ` (${failed.join(', ')})` : ''} in ${seconds}s`);
  process.exit(failed.length > 0 ? 1 : 0);
}

await main();
