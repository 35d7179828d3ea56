import * as tf from '@tensorflow/tfjs-core';
import { BackendNotAvailableError, selectBackend, type BackendDevice } from '@mlaan/core';
import type { BackendName } from './configuration/settings.js';

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
  /** The GPU it runs on (webgpu: the adapter, and whether it is a software device). */
  device?: BackendDevice;
  skipped: { name: string; reason: string }[];
}

/** How to get each backend `auto` may skip, in the words of someone setting up a machine. */
export const BACKEND_FIXES: Record<string, string> = {
  'tensorflow-gpu':
    'needs an NVIDIA GPU with CUDA 11.2 and cuDNN 8.1: `npm install @tensorflow/tfjs-node-gpu` at the repository root, then --backend tensorflow-gpu',
  tensorflow: '`npm install @tensorflow/tfjs-node` at the repository root (prebuilt for Linux x64, macOS and Windows)',
  onednn:
    'Debian/Ubuntu: `sudo apt-get install -y libdnnl-dev g++ make`, then `npm rebuild @mlaan/backend-onednn && npx turbo run build --filter=@mlaan/backend-onednn`; ' +
    'elsewhere install oneDNN and set DNNLROOT before the rebuild (packages/backend-onednn/README.md)',
  webgpu:
    '`npm install webgpu @tensorflow/tfjs-backend-webgpu` at the repository root (its devDependencies install them) and a GPU with a Vulkan ' +
    '(Linux), Metal or D3D12 driver; auto never takes a software device such as Mesa\'s lavapipe, --backend webgpu does (packages/backend-webgpu/README.md)',
  wasm: 'reinstall with `npm ci` (@tensorflow/tfjs-backend-wasm is a dependency of the bench)',
};

/** One line per backend `auto` skipped before the one it took: why, and how to get it. */
export function skippedBackendAdvice(backend: Pick<ActiveBackend, 'skipped' | 'choice'>): string[] {
  return backend.skipped.map((skip) => `backend: ${skip.name} (faster than ${backend.choice}) skipped: ${skip.reason}. Fix: ${BACKEND_FIXES[skip.name] ?? 'see its package README'}.`);
}

/** Kernels a backward pass dispatches that inference never needs; a backend without them cannot train. */
const TRAINING_KERNELS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput'] as const;

/**
 * Makes `requested` the active tfjs backend with @mlaan/core's selectBackend (which also
 * registers the training kernels wasm lacks, and names the package to install when one is
 * missing), then checks that the backend can run a backward pass.
 */
export async function activateBackend(requested: BackendName, log: (message: string) => void): Promise<ActiveBackend> {
  const selected = await selectBackend(requested, { log });
  const missing = TRAINING_KERNELS.filter((name) => tf.getKernel(name, selected.tfjsBackend) === undefined);
  if (missing.length > 0) {
    throw new BackendNotAvailableError(
      `The '${selected.choice}' backend has no ${missing.join(', ')} kernel(s), which training needs. Use --backend wasm or --backend cpu.`,
    );
  }
  return {
    requested,
    choice: selected.choice,
    tfjsBackend: selected.tfjsBackend,
    description: selected.description,
    gpu: selected.choice === 'tensorflow-gpu' || selected.device !== undefined,
    ...(selected.device ? { device: selected.device } : {}),
    skipped: selected.skipped,
  };
}

/**
 * Numeric fields of tf.memory() that some backends add (webgpu, webgl: numBytesInGPU, ...). The tensorflow
 * backends add none: there the engine's tensor bytes are what can be told, and with tfjs-node-gpu
 * those tensors live in GPU memory.
 */
export function backendMemoryFields(): Record<string, number> {
  const info = tf.memory() as unknown as Record<string, unknown>;
  const standard = new Set(['numTensors', 'numDataBuffers', 'numBytes', 'unreliable', 'reasons']);
  return Object.fromEntries(Object.entries(info).filter(([key, value]) => !standard.has(key) && typeof value === 'number')) as Record<string, number>;
}
