#!/usr/bin/env node
/**
 * `npm run gpu-bundle`: builds the offline GPU bundle, a self-contained folder (at most ~60 MiB)
 * that runs this project's WebGPU check on a Linux x64 GPU machine with no Node, no npm and no
 * network: copy the folder there and run `./run.sh` (it writes JSON to $OUT). What it holds:
 *
 *   node.xz                   this machine's own node binary, xz-compressed
 *   mlaan-gpu.mjs             scripts/gpu-bundle/entry.ts bundled by esbuild: adapter, parity,
 *                             versus-pytorch (benchmarks/native-vs-pytorch.ts) and bench commands
 *   dist/linux-x64/dawn.node.xz   Dawn's Node addon (npm webgpu), xz-compressed
 *   debs/*.deb                the Vulkan loader (libvulkan1) and GL dispatch libraries, unpacked
 *                             beside the bundle by run.sh where the machine has no loader
 *   golden/<fixture>/         parity fixtures of the authors' PyTorch code (default: the two small
 *                             shared ones; mlaan-reference-resnet32-k8 alone is 24 MB)
 *   pytorch/                  benchmarks/pytorch/ (the PyTorch side, run with --device cuda)
 *   authors/CIFAR-SVHN-STL/networks/   the MLAAN authors' networks, when --authors-code is given
 *   run.sh, MANIFEST.json
 *
 *   npm run gpu-bundle -- [--out gpu-bundle] [--authors-code DIR] [--golden-dir DIR]
 *                         [--fixtures e2e-resnet32,infopro-resnet32-k4] [--skip-build] [--max-mib 60]
 *
 * The compressed node binary and the loader packages are cached in ~/.cache/mlaan/gpu-bundle
 * (compressing node takes minutes). CIFAR-10 is not included: the timing uses generated batches
 * (the PyTorch side does the same); `mlaan-bench` reads a data folder given with --data-dir.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const require = createRequire(join(root, 'package.json'));

// The Vulkan loader, and the GL dispatch libraries NVIDIA's Vulkan driver library links against
// (the device README's list; a few hundred KB in all).
const LOADER_PACKAGES = ['libvulkan1', 'libglvnd0', 'libgl1', 'libglx0', 'libegl1', 'libopengl0', 'libgles2'];
const DEFAULT_FIXTURES = ['e2e-resnet32', 'infopro-resnet32-k4'];
const PYTORCH_SCRIPTS = ['resnet32_train.py', 'authors_step_time.py', 'authors_models.py', 'step_protocol.py'];

class BundleError extends Error {}

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, 'gpu-bundle') },
    'authors-code': { type: 'string' },
    'golden-dir': { type: 'string', default: process.env.MLAAN_GOLDEN_DIR ?? join(root, '..', 'shared', 'golden') },
    fixtures: { type: 'string', default: DEFAULT_FIXTURES.join(',') },
    'skip-build': { type: 'boolean', default: false },
    'max-mib': { type: 'string', default: '60' },
    help: { type: 'boolean', short: 'h' },
  },
});

function log(message) {
  console.error(`gpu-bundle: ${message}`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) throw new BundleError(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new BundleError(`${command} ${args.join(' ')} failed (status ${result.status})`);
}

const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'mlaan', 'gpu-bundle');

function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** `source` xz-compressed into `target`, through a cache keyed by the source's content. */
function compressCached(source, target) {
  const key = sha256(source).slice(0, 16);
  const cached = join(cacheDir, `${basename(source)}-${key}.xz`);
  if (!existsSync(cached)) {
    log(`compressing ${source} with xz -9 (once; cached in ${cacheDir})`);
    mkdirSync(cacheDir, { recursive: true });
    const partial = `${cached}.partial`;
    execFileSync('sh', ['-c', 'xz -9 -T0 -c "$1" > "$2"', 'xz', source, partial], { stdio: 'inherit' });
    execFileSync('mv', [partial, cached]);
  }
  copyFileSync(cached, target);
}

/** The loader packages for amd64, downloaded with apt-get (cached). */
function loaderPackages(target) {
  const debCache = join(cacheDir, 'debs');
  const have = existsSync(debCache) ? readdirSync(debCache).filter((name) => name.endsWith('.deb')) : [];
  const missing = LOADER_PACKAGES.filter((name) => !have.some((file) => file.startsWith(`${name}_`)));
  if (missing.length > 0) {
    log(`downloading ${missing.join(' ')} (apt-get download, amd64)`);
    mkdirSync(debCache, { recursive: true });
    // Lists of their own, for amd64 whatever this machine is (the device README's recipe).
    const lists = join(cacheDir, 'apt-lists');
    mkdirSync(join(lists, 'partial'), { recursive: true });
    const options = ['-o', 'APT::Architecture=amd64', '-o', 'APT::Architectures=amd64', '-o', `Dir::State::Lists=${lists}`];
    const update = spawnSync('apt-get', [...options, 'update', '-qq'], { stdio: 'inherit' });
    if (update.error || update.status !== 0) {
      throw new BundleError(
        'apt-get could not update its package lists, so the Vulkan loader (libvulkan1) cannot be downloaded. Build the bundle on a ' +
          'Debian/Ubuntu machine with network access to its package mirror.',
      );
    }
    run('apt-get', [...options, 'download', ...missing], { cwd: debCache });
  }
  mkdirSync(target, { recursive: true });
  for (const file of readdirSync(debCache).filter((name) => name.endsWith('.deb'))) copyFileSync(join(debCache, file), join(target, file));
}

function folderBytes(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + folderBytes(join(path, name)), 0);
}

function gitCommit() {
  const result = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' });
  return { commit: result.status === 0 ? result.stdout.trim() : null, dirty: dirty.status === 0 ? dirty.stdout.trim() !== '' : null };
}

async function bundleProgram(target) {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [join(here, 'entry.ts')],
    outfile: target,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // tfjs's node builds are CommonJS and require Node's built-in modules.
    banner: { js: "import { createRequire as __mlaanCreateRequire } from 'node:module'; const require = __mlaanCreateRequire(import.meta.url);" },
    // Native addons are never bundled: dawn.node is loaded from beside the bundle; the others are
    // backends the GPU check does not use, imported by name and absent.
    external: ['*.node'],
    logLevel: 'warning',
    legalComments: 'none',
  });
}

async function main() {
  if (values.help) {
    console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
    return 0;
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new BundleError(`The bundle carries this machine's node binary for a Linux x64 GPU machine; build it on Linux x64 (this is ${process.platform}-${process.arch}).`);
  }
  const out = resolve(values.out);
  const maxBytes = Number(values['max-mib']) * 2 ** 20;
  const fixtures = values.fixtures.split(',').filter(Boolean);
  for (const fixture of fixtures) {
    if (!existsSync(join(values['golden-dir'], fixture, 'expected-f64.safetensors'))) {
      throw new BundleError(`--fixtures ${fixture}: no ${join(values['golden-dir'], fixture, 'expected-f64.safetensors')}. Set --golden-dir (or MLAAN_GOLDEN_DIR) to the shared golden fixtures.`);
    }
  }
  let authorsNetworks;
  if (values['authors-code'] !== undefined) {
    authorsNetworks = [join(values['authors-code'], 'networks'), join(values['authors-code'], 'CIFAR-SVHN-STL', 'networks')].find((dir) =>
      existsSync(join(dir, 'resnetMLAAN.py')),
    );
    if (!authorsNetworks) {
      throw new BundleError(`--authors-code ${values['authors-code']}: no networks/resnetMLAAN.py there or in its CIFAR-SVHN-STL folder (github Wendy231015/MLAAN).`);
    }
  }

  if (!values['skip-build']) {
    log('building the packages the bundle uses');
    run('npx', ['turbo', 'run', 'build', '--filter=@mlaan/bench...', '--filter=@mlaan/parity...', '--filter=@mlaan/backend-webgpu...', '--output-logs=errors-only'], {
      cwd: root,
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
    });
  }

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  log(`bundling scripts/gpu-bundle/entry.ts into ${relative(root, out)}/mlaan-gpu.mjs`);
  await bundleProgram(join(out, 'mlaan-gpu.mjs'));

  const dawnNode = join(dirname(require.resolve('webgpu/package.json')), 'dist', 'linux-x64', 'dawn.node');
  if (!existsSync(dawnNode)) throw new BundleError(`${dawnNode} is missing: install the webgpu package (npm ci at the repository root).`);
  mkdirSync(join(out, 'dist', 'linux-x64'), { recursive: true });
  compressCached(dawnNode, join(out, 'dist', 'linux-x64', 'dawn.node.xz'));
  compressCached(process.execPath, join(out, 'node.xz'));
  loaderPackages(join(out, 'debs'));

  for (const fixture of fixtures) cpSync(join(values['golden-dir'], fixture), join(out, 'golden', fixture), { recursive: true });
  mkdirSync(join(out, 'pytorch'), { recursive: true });
  for (const script of PYTORCH_SCRIPTS) copyFileSync(join(root, 'benchmarks', 'pytorch', script), join(out, 'pytorch', script));
  if (authorsNetworks) {
    cpSync(authorsNetworks, join(out, 'authors', 'CIFAR-SVHN-STL', 'networks'), {
      recursive: true,
      filter: (source) => !source.includes('__pycache__'),
    });
  }
  copyFileSync(join(here, 'run.sh'), join(out, 'run.sh'));
  chmodSync(join(out, 'run.sh'), 0o755);

  const webgpuVersion = JSON.parse(readFileSync(require.resolve('webgpu/package.json'), 'utf8')).version;
  const tfjsWebGpuVersion = JSON.parse(readFileSync(require.resolve('@tensorflow/tfjs-backend-webgpu/package.json'), 'utf8')).version;
  const manifest = {
    what: 'mlaan-js offline GPU bundle: ./run.sh prints the WebGPU adapter, runs the float64 parity fixtures on webgpu, and times ResNet-32 training steps on webgpu beside PyTorch on CUDA (packages/backend-webgpu/README.md)',
    built: new Date().toISOString(),
    git: gitCommit(),
    node: process.version,
    webgpu: webgpuVersion,
    tfjsBackendWebGpu: tfjsWebGpuVersion,
    fixtures,
    authorsCode: authorsNetworks ? 'included (authors/CIFAR-SVHN-STL/networks)' : 'not included: only the same-architecture PyTorch ResNet-32 (E2E) runs on the PyTorch side',
    loaderPackages: readdirSync(join(out, 'debs')),
  };
  writeFileSync(join(out, 'MANIFEST.json'), JSON.stringify(manifest, null, 2) + '\n');

  const bytes = folderBytes(out);
  const parts = readdirSync(out).map((name) => `${name} ${(folderBytes(join(out, name)) / 2 ** 20).toFixed(1)} MiB`);
  log(`${relative(root, out) || out}: ${(bytes / 2 ** 20).toFixed(1)} MiB (${parts.join(', ')})`);
  if (bytes > maxBytes) {
    throw new BundleError(
      `the bundle is ${(bytes / 2 ** 20).toFixed(1)} MiB, over --max-mib ${values['max-mib']} (a device call carries at most 64 MiB with the repository). Bundle fewer --fixtures.`,
    );
  }
  log(`done. On the GPU machine: cd ${basename(out)} && OUT=<results folder> ./run.sh`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof BundleError ? `gpu-bundle: ${error.message}` : error);
    process.exit(1);
  },
);
