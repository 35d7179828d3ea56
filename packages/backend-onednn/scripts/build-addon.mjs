#!/usr/bin/env node
// Builds the oneDNN addon with node-gyp when the package is installed.
//
// The build is optional on purpose: a machine without oneDNN's headers (Debian/Ubuntu package
// `libdnnl-dev`) must still be able to `npm ci` the whole workspace. So by default a failed build
// prints why and how to fix it, then exits 0; `register()` later throws a clear error naming the
// same fix. `--strict` (used by `npm run build:native`) makes a failure exit non-zero instead.
//
// `--if-stale` (used by `npm test`) builds only when the addon is missing or older than its sources,
// so tests never run against an addon built from other sources.
//
// Environment:
//   MLAAN_ONEDNN_SKIP_BUILD=1   skip the build entirely (the backend then reports itself unavailable)
//   DNNLROOT=/opt/dnnl          a oneDNN install outside /usr (its include/ and lib/ are used)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const onlyIfStale = process.argv.includes('--if-stale');
const prefix = '[@mlaan/backend-onednn]';

const addonFile = path.join(packageRoot, 'build', 'Release', 'onednn.node');

function giveUp(reason) {
  const consequence = existsSync(addonFile)
    ? `an earlier build (${addonFile}) is left in place and may not match this source`
    : `the 'onednn' TensorFlow.js backend stays unavailable; other backends still work`;
  const message =
    `${prefix} the oneDNN addon was not built: ${reason}\n` +
    `${prefix} ${consequence}.\n` +
    `${prefix} fix: install oneDNN's headers (Debian/Ubuntu: apt-get install -y libdnnl-dev, plus g++ and make),\n` +
    `${prefix}      then run: npm rebuild @mlaan/backend-onednn`;
  console.warn(message);
  process.exit(strict ? 1 : 0);
}

if (onlyIfStale && existsSync(addonFile)) {
  const built = statSync(addonFile).mtimeMs;
  const sources = [
    path.join(packageRoot, 'binding.gyp'),
    ...readdirSync(path.join(packageRoot, 'native')).map((name) => path.join(packageRoot, 'native', name)),
  ];
  if (sources.every((source) => statSync(source).mtimeMs <= built)) process.exit(0);
  console.log(`${prefix} the addon is older than its sources; rebuilding`);
}

if (process.env.MLAAN_ONEDNN_SKIP_BUILD === '1' && !strict) {
  giveUp('MLAAN_ONEDNN_SKIP_BUILD=1 is set');
}
if (process.platform !== 'linux') {
  giveUp(`only Linux is supported (this is ${process.platform})`);
}

const includeCandidates = [
  process.env.DNNLROOT ? path.join(process.env.DNNLROOT, 'include') : undefined,
  ...(process.env.CPATH ?? '').split(':'),
  ...(process.env.CPLUS_INCLUDE_PATH ?? '').split(':'),
  '/usr/include',
  '/usr/local/include',
].filter((candidate) => candidate);
const headerDirectory = includeCandidates.find((directory) => existsSync(path.join(directory, 'oneapi', 'dnnl', 'dnnl.hpp')));
if (!headerDirectory) {
  giveUp(`oneDNN's header oneapi/dnnl/dnnl.hpp was not found in ${includeCandidates.join(', ')}`);
}

const require = createRequire(import.meta.url);
function findNodeGyp() {
  // npm sets npm_config_node_gyp to the node-gyp it bundles when it runs lifecycle scripts.
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package: the bundled copies above are the usual source
  }
  return candidates.find((candidate) => candidate && existsSync(candidate));
}
const nodeGyp = findNodeGyp();
if (!nodeGyp) {
  giveUp('node-gyp was not found (npm bundles it; set npm_config_node_gyp to its bin/node-gyp.js)');
}

const environment = { ...process.env };
if (process.env.DNNLROOT) {
  const root = process.env.DNNLROOT;
  environment.CPATH = [path.join(root, 'include'), process.env.CPATH].filter(Boolean).join(':');
  environment.LIBRARY_PATH = [path.join(root, 'lib'), path.join(root, 'lib64'), process.env.LIBRARY_PATH]
    .filter(Boolean)
    .join(':');
}

// node-gyp downloads Node's headers unless told where they are; the machines this project runs on
// have no route to nodejs.org, and Debian's nodejs ships the headers under /usr/include/node.
const nodeGypArguments = [nodeGyp, 'rebuild', '--jobs=max'];
if (!process.env.npm_config_nodedir) {
  const installPrefix = path.resolve(path.dirname(process.execPath), '..');
  if (existsSync(path.join(installPrefix, 'include', 'node', 'node_api.h'))) {
    nodeGypArguments.push(`--nodedir=${installPrefix}`);
  }
}

console.log(`${prefix} building the oneDNN addon (headers in ${headerDirectory}) with ${nodeGyp}`);
const result = spawnSync(process.execPath, nodeGypArguments, {
  cwd: packageRoot,
  env: environment,
  stdio: 'inherit',
});
if (result.error) giveUp(`node-gyp could not start: ${result.error.message}`);
if (result.status !== 0) giveUp(`node-gyp exited with status ${result.status} (see the compiler output above)`);

// A build that links but cannot load (missing shared library at run time) is as useless as none.
try {
  const addon = require(addonFile);
  console.log(`${prefix} built; oneDNN ${addon.version().join('.')} (${addon.cpuIsa()})`);
} catch (error) {
  giveUp(`the addon was built but does not load: ${error instanceof Error ? error.message : String(error)}`);
}
