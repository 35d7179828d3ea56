import { ConfigError } from '../errors.js';
import { hostMemoryStepKernels, registerCpuTrainingKernels, registerTrainingKernels, registerWasmTrainingKernels } from '../kernels/training-kernels.js';
import { importOptionalPackage } from './optional-import.js';
import { describeWasmBackend, prepareWasmBackend } from './wasm-threads.js';

/** What a provider's `load` may use; providers that need none of it can ignore the argument. */
export interface BackendLoadOptions {
  /** Threads for the wasm backend's XNNPACK pool. */
  wasmThreads: number;
  log: (message: string) => void;
}

/**
 * One way of running tfjs kernels: an npm package that, once imported, registers a tfjs backend.
 * Plain config objects in a registry, in the style of tfjs KernelConfig.
 */
export interface BackendProvider {
  /** The name users pass to `selectBackend`, e.g. 'wasm'. */
  name: string;
  /** The npm package to install for it. */
  packageName: string;
  /** The tfjs backend name it registers (`tf.setBackend(tfjsName)`). */
  tfjsName: string;
  /** One human-readable line, e.g. 'TensorFlow C++ (CPU)'. */
  description: string;
  /** Extra install advice, in full sentences, appended to its errors (e.g. CUDA requirements). */
  installHint?: string;
  /**
   * Imports the package so that it registers its backend; throws when it cannot. May return the
   * tfjs backend name when it is only known after loading (it then replaces `tfjsName`).
   */
  load(options: BackendLoadOptions): Promise<string | void>;
  /** A description that depends on how the backend came up (threads, SIMD), once it is active. */
  describeActive?(): string;
}

// tfjs-node 4.x bundles libtensorflow 2.9, which TensorFlow built against CUDA 11.2 and cuDNN 8.1.
const CUDA_NOTE =
  'It also needs an NVIDIA GPU with its driver, CUDA 11.2 and cuDNN 8.1 (the versions libtensorflow 2.9, ' +
  'bundled by @tensorflow/tfjs-node-gpu 4.x, was built against) on the library path.';

const builtInProviders: BackendProvider[] = [
  {
    name: 'tensorflow-gpu',
    packageName: '@tensorflow/tfjs-node-gpu',
    tfjsName: 'tensorflow',
    description: 'TensorFlow C++ with CUDA (@tensorflow/tfjs-node-gpu)',
    installHint: CUDA_NOTE,
    async load() {
      await importOptionalPackage('@tensorflow/tfjs-node-gpu');
    },
  },
  {
    name: 'tensorflow',
    packageName: '@tensorflow/tfjs-node',
    tfjsName: 'tensorflow',
    description: 'TensorFlow C++ on the CPU (@tensorflow/tfjs-node)',
    async load() {
      await importOptionalPackage('@tensorflow/tfjs-node');
    },
  },
  {
    name: 'onednn',
    packageName: '@mlaan/backend-onednn',
    tfjsName: 'onednn',
    description: 'oneDNN native CPU kernels (@mlaan/backend-onednn)',
    async load() {
      const module = await importOptionalPackage('@mlaan/backend-onednn');
      if (typeof module.register !== 'function') {
        throw new Error('@mlaan/backend-onednn does not export register(); update it to a matching version');
      }
      const registeredName: unknown = await (module.register as () => Promise<unknown>)();
      if (typeof registeredName !== 'string' || registeredName === '') {
        throw new Error('@mlaan/backend-onednn register() did not return the name of the backend it registered');
      }
      // Its tensors live in host memory, as the cpu backend's: a step commits by reference.
      registerTrainingKernels(hostMemoryStepKernels(registeredName));
      return registeredName;
    },
  },
  {
    name: 'wasm',
    packageName: '@tensorflow/tfjs-backend-wasm',
    tfjsName: 'wasm',
    description: 'WebAssembly with XNNPACK (@tensorflow/tfjs-backend-wasm)',
    async load({ wasmThreads, log }) {
      const wasm = await importOptionalPackage('@tensorflow/tfjs-backend-wasm');
      await prepareWasmBackend(wasm, wasmThreads, log);
      // After the import: the wasm package registers its own kernels on import and would replace these.
      registerWasmTrainingKernels();
    },
    describeActive() {
      return describeWasmBackend();
    },
  },
  {
    name: 'cpu',
    packageName: '@tensorflow/tfjs-backend-cpu',
    tfjsName: 'cpu',
    description: 'plain JavaScript (@tensorflow/tfjs-backend-cpu)',
    async load() {
      await importOptionalPackage('@tensorflow/tfjs-backend-cpu');
      registerCpuTrainingKernels();
    },
  },
];

const providers: BackendProvider[] = [...builtInProviders];

/** The providers in preference order (the order `selectBackend('auto')` tries them). */
export function backendProviders(): readonly BackendProvider[] {
  return providers;
}

export function findBackendProvider(name: string): BackendProvider | undefined {
  return providers.find((provider) => provider.name === name);
}

/**
 * Adds a provider, or replaces the one with the same name in place. New providers go last (least
 * preferred by 'auto') unless `before` names a provider to insert ahead of, e.g. 'wasm'.
 * Returns a function that removes it again (restoring the provider it replaced, if any).
 */
export function registerBackendProvider(
  provider: BackendProvider,
  options: { before?: string } = {},
): () => void {
  const existing = providers.findIndex((candidate) => candidate.name === provider.name);
  const replaced = existing >= 0 ? providers[existing] : undefined;
  if (existing >= 0) {
    providers[existing] = provider;
  } else if (options.before != null) {
    const beforeIndex = providers.findIndex((candidate) => candidate.name === options.before);
    if (beforeIndex < 0) {
      throw new ConfigError(
        `registerBackendProvider: no provider named '${options.before}' to insert '${provider.name}' before; ` +
          `known providers: ${providers.map((candidate) => candidate.name).join(', ')}.`,
      );
    }
    providers.splice(beforeIndex, 0, provider);
  } else {
    providers.push(provider);
  }
  return () => {
    const index = providers.indexOf(provider);
    if (index < 0) return;
    if (replaced != null) providers[index] = replaced;
    else providers.splice(index, 1);
  };
}
