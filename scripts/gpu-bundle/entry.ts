/**
 * The one program of the offline GPU bundle (scripts/gpu-bundle/build.mjs bundles it with esbuild
 * into mlaan-gpu.mjs): the project's commands for a GPU machine that has no Node, no npm and no
 * network.
 *
 *   node mlaan-gpu.mjs adapter                      the WebGPU adapter (and every adapter Dawn finds), as JSON
 *   node mlaan-gpu.mjs parity <fixture-dir>... ...  mlaan-parity (e.g. --backend webgpu --report parity.json)
 *   node mlaan-gpu.mjs versus-pytorch ...           benchmarks/native-vs-pytorch.ts (--backends webgpu --device cuda)
 *   node mlaan-gpu.mjs bench ...                    mlaan-bench (run, ablation, report)
 *
 * A bundle has no node_modules, so the optional packages that core imports by name at run time
 * (the backends) are imported here and handed over with provideBundledPackage. Dawn's addon is
 * loaded by the `webgpu` package from dist/linux-x64/dawn.node beside this file.
 */
import * as tfjsCpu from '@tensorflow/tfjs-backend-cpu';
import * as tfjsWebGpu from '@tensorflow/tfjs-backend-webgpu';
import * as dawn from 'webgpu';
import * as backendWebGpu from '@mlaan/backend-webgpu';
import { provideBundledPackage, selectBackend } from '@mlaan/core';
import { main as benchMain } from '@mlaan/bench';
import { runParityCli } from '@mlaan/parity';

provideBundledPackage('@tensorflow/tfjs-backend-cpu', tfjsCpu as unknown as Record<string, unknown>);
provideBundledPackage('@tensorflow/tfjs-backend-webgpu', tfjsWebGpu as unknown as Record<string, unknown>);
provideBundledPackage('webgpu', dawn as unknown as Record<string, unknown>);
provideBundledPackage('@mlaan/backend-webgpu', backendWebGpu as unknown as Record<string, unknown>);

const usage = `Usage: node mlaan-gpu.mjs <command> [arguments]
  adapter          print the WebGPU adapter and every adapter Dawn finds (JSON)
  parity ...       mlaan-parity, e.g. parity golden/* --backend webgpu --report parity.json
  versus-pytorch   benchmarks/native-vs-pytorch.ts, e.g. --backends webgpu --device cuda --out steps.json
  bench ...        mlaan-bench, e.g. bench run --backend webgpu --data-dir DIR`;

async function printAdapter(): Promise<number> {
  const selected = await selectBackend('webgpu', { log: (line) => console.error(line) });
  const adapters = await backendWebGpu.listAdapters();
  console.log(JSON.stringify({ adapter: selected.device, description: selected.description, adapters }, null, 2));
  return 0;
}

/** Runs benchmarks/native-vs-pytorch.ts, whose module runs on import and reads process.argv. */
async function versusPyTorch(args: readonly string[]): Promise<number> {
  process.argv = [process.argv[0]!, process.argv[1]!, ...args];
  await import('../../benchmarks/native-vs-pytorch.js');
  return process.exitCode === undefined ? 0 : Number(process.exitCode);
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'adapter':
      return printAdapter();
    case 'parity':
      return runParityCli(rest);
    case 'bench':
      return benchMain(rest);
    case 'versus-pytorch':
      return versusPyTorch(rest);
    // native-vs-pytorch.ts starts its workers by running its own file with --worker: here that
    // file is this bundle.
    case '--worker':
      return versusPyTorch(argv);
    default:
      console.error(usage);
      return command === '--help' || command === '-h' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  },
);
