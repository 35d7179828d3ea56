import * as tf from '@tensorflow/tfjs-core';
import * as core from '@mlaan/core';
import { BackendNotAvailableError } from '@mlaan/core';
import type { BackendName } from './config.js';
import { importUntyped } from './registry/import-package.js';

export interface ActiveBackend {
  /** What was asked for: 'auto' or a provider name. */
  requested: BackendName;
  /** The provider that runs: 'tensorflow-gpu', 'wasm', ... */
  choice: string;
  /** tf.getBackend(). */
  tfjsBackend: string;
  description: string;
  /** True when tensors live in GPU memory (so tensor bytes are GPU bytes). */
  gpu: boolean;
  skipped: { name: string; reason: string }[];
}

type SelectBackend = (choice: string, options: { log?: (message: string) => void }) => Promise<{
  choice: string;
  tfjsBackend: string;
  description: string;
  skipped: { name: string; reason: string }[];
}>;

/** Kernels a training step needs beyond inference; a backend without them cannot train. */
const TRAINING_KERNELS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput'] as const;

/**
 * Makes `requested` the active tfjs backend through @mlaan/core's selectBackend (which also
 * registers the training kernels wasm lacks), then checks that the backend can run a backward pass.
 */
export async function activateBackend(requested: BackendName, log: (message: string) => void): Promise<ActiveBackend> {
  const select = (core as Record<string, unknown>).selectBackend as SelectBackend | undefined;
  const selected = select ? await select(requested, { log }) : await fallbackSelect(requested, log);
  checkTrainingKernels(selected.tfjsBackend);
  return {
    requested,
    choice: selected.choice,
    tfjsBackend: selected.tfjsBackend,
    description: selected.description,
    gpu: selected.choice === 'tensorflow-gpu',
    skipped: selected.skipped,
  };
}

function checkTrainingKernels(backend: string): void {
  const missing = TRAINING_KERNELS.filter((name) => tf.getKernel(name, backend) === undefined);
  if (missing.length > 0) {
    throw new BackendNotAvailableError(
      `The '${backend}' backend has no ${missing.join(', ')} kernel(s), which training needs. ` +
        (backend === 'wasm'
          ? 'Update @mlaan/core (its selectBackend registers them for wasm), or use --backend cpu.'
          : 'Use --backend wasm or --backend cpu.'),
    );
  }
}

/** Providers used only while the installed @mlaan/core predates selectBackend. */
const FALLBACK_PROVIDERS: { name: string; packageName: string; tfjsName: string; description: string }[] = [
  { name: 'tensorflow-gpu', packageName: '@tensorflow/tfjs-node-gpu', tfjsName: 'tensorflow', description: 'TensorFlow C++ with CUDA' },
  { name: 'tensorflow', packageName: '@tensorflow/tfjs-node', tfjsName: 'tensorflow', description: 'TensorFlow C++ on the CPU' },
  { name: 'wasm', packageName: '@tensorflow/tfjs-backend-wasm', tfjsName: 'wasm', description: 'WebAssembly (XNNPACK)' },
  { name: 'cpu', packageName: '@tensorflow/tfjs-backend-cpu', tfjsName: 'cpu', description: 'plain JavaScript' },
];

async function fallbackSelect(requested: BackendName, log: (message: string) => void) {
  const candidates = requested === 'auto' ? FALLBACK_PROVIDERS : FALLBACK_PROVIDERS.filter((p) => p.name === requested);
  if (candidates.length === 0) {
    throw new BackendNotAvailableError(`Backend '${requested}' needs a newer @mlaan/core (with selectBackend); use wasm or cpu.`);
  }
  const skipped: { name: string; reason: string }[] = [];
  for (const provider of candidates) {
    try {
      await importUntyped(provider.packageName);
      if (!(await tf.setBackend(provider.tfjsName))) throw new Error(`tf.setBackend('${provider.tfjsName}') returned false`);
      await tf.ready();
      log(`backend: using ${provider.name}: ${provider.description}`);
      return { choice: provider.name, tfjsBackend: tf.getBackend(), description: provider.description, skipped };
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      if (requested !== 'auto') {
        throw new BackendNotAvailableError(
          `Backend '${provider.name}' needs ${provider.packageName}, which could not be loaded (${reason}). Install it with \`npm install ${provider.packageName}\`, or use --backend auto.`,
        );
      }
      skipped.push({ name: provider.name, reason });
    }
  }
  throw new BackendNotAvailableError(`No backend could be started (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}).`);
}

/**
 * Numeric fields of tf.memory() that some backends add (webgl: numBytesInGPU, ...). The tensorflow
 * backends add none: there the engine's tensor bytes are what can be told, and with tfjs-node-gpu
 * those tensors live in GPU memory.
 */
export function backendMemoryFields(): Record<string, number> {
  const info = tf.memory() as unknown as Record<string, unknown>;
  const standard = new Set(['numTensors', 'numDataBuffers', 'numBytes', 'unreliable', 'reasons']);
  return Object.fromEntries(Object.entries(info).filter(([key, value]) => !standard.has(key) && typeof value === 'number')) as Record<string, number>;
}
