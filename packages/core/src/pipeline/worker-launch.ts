import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type TransferListItem } from 'node:worker_threads';
import { ConfigError } from '../errors.js';

/** Where the stage entry is: beside this file in the sources, `dist/pipeline/worker.js` once built. */
export function defaultWorkerEntry(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('./worker-entry.ts', here) : new URL('./pipeline/worker.js', here);
}

// TypeScript sources (tests, a recipe written in .ts) run through tsx's loader, registered inside
// the worker before its entry is imported (Node does not apply --import hooks to a worker's main).
// tfjs-core's gradient registrations ship only as extensionless ESM, which the built package
// bundles (tsup); from sources, esbuild bundles that one file once and a resolve hook points the
// worker at the bundle. Development only: published code never takes this path.
const GRADIENTS = '@tensorflow/tfjs-core/dist/register_all_gradients.js';
let gradientsBundle: string | undefined;

function bundledGradients(): string {
  if (gradientsBundle) return gradientsBundle;
  const require = createRequire(import.meta.url);
  const esbuild = require('esbuild') as typeof import('esbuild');
  const file = join(tmpdir(), `mlaan-register-gradients-${process.pid}.mjs`);
  esbuild.buildSync({ entryPoints: [require.resolve(GRADIENTS)], bundle: true, format: 'esm', platform: 'node', outfile: file, logLevel: 'silent' });
  return (gradientsBundle = pathToFileURL(file).href);
}

function typescriptBootstrap(): string {
  // tfjs-core itself first: the engine it creates is the one global engine, which the bundled
  // registrations then join (the built package gets this order from its imports).
  const tfjsCore = pathToFileURL(createRequire(import.meta.url).resolve('@tensorflow/tfjs-core')).href;
  const hook =
    'export async function resolve(specifier, context, next) {' +
    ` if (specifier === ${JSON.stringify(GRADIENTS)}) return { url: ${JSON.stringify(bundledGradients())}, shortCircuit: true };` +
    ' return next(specifier, context); }';
  return (
    "const { workerData } = require('node:worker_threads');" +
    `require('node:module').register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});` +
    `import(${JSON.stringify(tfjsCore)})` +
    ".then(() => import('tsx/esm/api')).then((tsx) => { tsx.register(); return import(workerData.entry); });"
  );
}

/** tsx and esbuild are optional peers of @mlaan/core: only TypeScript recipes (or core's own sources) need them. */
function requireTypescriptLoader(): void {
  const require = createRequire(import.meta.url);
  for (const name of ['tsx/esm/api', 'esbuild']) {
    try {
      require.resolve(name);
    } catch {
      throw new ConfigError(
        `PipelinedTrainer: recipe.module is TypeScript, which the workers load through tsx and esbuild, but '${name}' cannot be found. ` +
          'Install them (npm install --save-dev tsx esbuild) or point recipe.module at built JavaScript.',
      );
    }
  }
}

/** Starts one worker thread running `entry` with `workerData`; TypeScript entries or recipes go through tsx. */
export function launchWorker(entry: URL, workerData: Record<string, unknown>, transferList: TransferListItem[], typescript: boolean): Worker {
  if (typescript || entry.pathname.endsWith('.ts')) {
    requireTypescriptLoader();
    return new Worker(typescriptBootstrap(), { eval: true, workerData: { ...workerData, entry: entry.href }, transferList });
  }
  return new Worker(entry, { workerData, transferList });
}
