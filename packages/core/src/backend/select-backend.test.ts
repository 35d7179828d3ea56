import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BackendNotAvailableError, ConfigError } from '../errors.js';
import { importOptionalPackage, isPackageNotFound, provideBundledPackage } from './optional-import.js';
import { backendProviders, registerBackendProvider, type BackendDevice, type BackendProvider } from './providers.js';
import { selectBackend } from './select-backend.js';

function isInstalled(packageName: string): boolean {
  try {
    createRequire(import.meta.url).resolve(packageName);
    return true;
  } catch {
    return false;
  }
}

async function selectionError(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the selection to fail');
}

describe('selectBackend', () => {
  it('lists the built-in providers in preference order', () => {
    expect(backendProviders().map((provider) => provider.name)).toEqual([
      'tensorflow-gpu',
      'webgpu',
      'tensorflow',
      'onednn',
      'wasm',
      'cpu',
    ]);
  });

  it.skipIf(isInstalled('@tensorflow/tfjs-node'))(
    "explicit 'tensorflow' without @tensorflow/tfjs-node throws BackendNotAvailableError naming the package",
    async () => {
      const error = await selectionError(selectBackend('tensorflow', { log: () => {} }));
      expect(error).toBeInstanceOf(BackendNotAvailableError);
      expect(error.message).toContain('@tensorflow/tfjs-node');
      expect(error.message).toContain('npm install @tensorflow/tfjs-node');
      expect(error.message).toContain('not installed');
    },
  );

  it.skipIf(isInstalled('@tensorflow/tfjs-node-gpu'))(
    "explicit 'tensorflow-gpu' without its package also explains the CUDA/cuDNN requirement",
    async () => {
      const error = await selectionError(selectBackend('tensorflow-gpu', { log: () => {} }));
      expect(error).toBeInstanceOf(BackendNotAvailableError);
      expect(error.message).toContain('npm install @tensorflow/tfjs-node-gpu');
      expect(error.message).toMatch(/CUDA 11\.2 and cuDNN 8\.1/);
    },
  );

  it('rejects an unknown name, listing the choices', async () => {
    const error = await selectionError(selectBackend('tpu', { log: () => {} }));
    expect(error).toBeInstanceOf(BackendNotAvailableError);
    expect(error.message).toMatch(/Unknown backend 'tpu'.*'wasm'.*'cpu'/);
  });

  // Issue 25, defect 4: every public option is checked, unknown keys with a did-you-mean.
  it('rejects unknown options and bad values as ConfigErrors before loading anything', async () => {
    const backend = tf.getBackend();
    const typo = await selectionError(selectBackend('cpu', { wasmThread: 2 } as never));
    expect(typo).toBeInstanceOf(ConfigError);
    expect(typo.message).toMatch(/^selectBackend\(\): unknown option\(s\) 'wasmThread' \('wasmThread': did you mean 'wasmThreads'\?\)/);
    expect((await selectionError(selectBackend('cpu', { wasmThreads: 0 }))).message).toMatch(/wasmThreads must be an integer >= 1 .*; got 0/);
    expect((await selectionError(selectBackend('cpu', { log: 'console' as never }))).message).toMatch(/log must be a function/);
    expect(tf.getBackend()).toBe(backend);
  });

  it("'auto' takes the first provider that starts and logs one line per skipped provider", async () => {
    const lines: string[] = [];
    const selected = await selectBackend('auto', { log: (line) => lines.push(line), wasmThreads: 1 });
    const order = backendProviders().map((provider) => provider.name);
    const chosenIndex = order.indexOf(selected.choice);
    expect(chosenIndex).toBeGreaterThanOrEqual(0);
    expect(selected.tfjsBackend).toBe(tf.getBackend());
    // Every more preferred provider was tried and skipped, with a reason, in order.
    expect(selected.skipped.map((skip) => skip.name)).toEqual(order.slice(0, chosenIndex));
    for (const skip of selected.skipped) expect(skip.reason.length).toBeGreaterThan(0);
    expect(lines).toHaveLength(selected.skipped.length + 1);
    selected.skipped.forEach((skip, index) => expect(lines[index]).toContain(`skipped ${skip.name}: ${skip.reason}`));
    expect(lines.at(-1)).toContain(`using ${selected.choice}`);
    // The backend really computes.
    expect(tf.tidy(() => tf.sum(tf.tensor1d([1, 2, 3])).dataSync()[0])).toBe(6);
    if (!isInstalled('@tensorflow/tfjs-node') && !isInstalled('@tensorflow/tfjs-node-gpu')) {
      expect(order.slice(0, 2).every((name) => selected.skipped.some((skip) => skip.name === name))).toBe(true);
      expect(selected.skipped.find((skip) => skip.name === 'tensorflow')?.reason).toBe(
        '@tensorflow/tfjs-node is not installed',
      );
    }
    if (selected.choice === 'wasm') {
      expect(selected.description).toContain('XNNPACK');
      // Selecting wasm registers the composed gradient kernels it lacks.
      expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    }
  });

  it('a cause that ends with a full stop is not followed by a second one', async () => {
    const remove = registerBackendProvider({
      name: 'full-stop',
      packageName: 'full-stop-backend',
      tfjsName: 'full-stop',
      description: 'a provider whose load fails with a sentence',
      async load() {
        throw new Error('No backend found in registry.');
      },
    });
    try {
      const error = await selectionError(selectBackend('full-stop', { log: () => {} }));
      expect(error.message).toContain('failed to load: No backend found in registry. Reinstall full-stop-backend');
      expect(error.message).not.toMatch(/[^.]\.\.(\s|$)/);
    } finally {
      remove();
    }
  });

  describe('with registered providers', () => {
    const failingProvider: BackendProvider = {
      name: 'broken-native',
      packageName: '@example/broken-native',
      tfjsName: 'broken-native',
      description: 'a native backend whose addon cannot load',
      async load() {
        throw new Error('libbroken.so: cannot open shared object file');
      },
    };

    it("'auto' skips a provider whose package loads but fails, saying why", async () => {
      const remove = registerBackendProvider(failingProvider, { before: 'wasm' });
      try {
        const lines: string[] = [];
        const selected = await selectBackend('auto', { log: (line) => lines.push(line), wasmThreads: 1 });
        const skip = selected.skipped.find((candidate) => candidate.name === 'broken-native');
        if (selected.choice === 'wasm' || selected.choice === 'cpu') {
          expect(skip?.reason).toBe('@example/broken-native failed to load: libbroken.so: cannot open shared object file');
          expect(lines.some((line) => line.includes('skipped broken-native'))).toBe(true);
        }
      } finally {
        remove();
      }
      expect(backendProviders().some((provider) => provider.name === 'broken-native')).toBe(false);
    });

    it('an explicit choice of a broken provider says it failed to load (not "not installed")', async () => {
      const remove = registerBackendProvider(failingProvider);
      try {
        const error = await selectionError(selectBackend('broken-native', { log: () => {} }));
        expect(error).toBeInstanceOf(BackendNotAvailableError);
        expect(error.message).toContain('failed to load: libbroken.so');
        expect(error.message).not.toContain('not installed');
      } finally {
        remove();
      }
    });

    it('selects a custom provider whose load returns the tfjs backend name', async () => {
      await import('@tensorflow/tfjs-backend-cpu');
      const cpuFactory = tf.findBackendFactory('cpu');
      const provider: BackendProvider = {
        name: 'cpu-copy',
        packageName: '@tensorflow/tfjs-backend-cpu',
        tfjsName: 'placeholder-replaced-by-load',
        description: 'the cpu backend under another name',
        async load() {
          if (tf.findBackendFactory('cpu-copy') == null) {
            tf.registerBackend('cpu-copy', cpuFactory);
            tf.copyRegisteredKernels('cpu', 'cpu-copy');
          }
          return 'cpu-copy';
        },
      };
      const remove = registerBackendProvider(provider, { before: 'cpu' });
      try {
        const order = backendProviders().map((candidate) => candidate.name);
        expect(order.indexOf('cpu-copy')).toBe(order.indexOf('cpu') - 1);
        const selected = await selectBackend('cpu-copy', { log: () => {} });
        expect(selected).toMatchObject({ choice: 'cpu-copy', tfjsBackend: 'cpu-copy', skipped: [] });
        expect(tf.getBackend()).toBe('cpu-copy');
      } finally {
        remove();
        await tf.setBackend('cpu');
        tf.removeBackend('cpu-copy');
      }
    });

    it("'auto' passes over a provider that declines (a software GPU) with its reason; by name it is taken, with its device", async () => {
      await import('@tensorflow/tfjs-backend-cpu');
      const softwareGpu: BackendDevice = { vendor: 'mesa', architecture: 'software', name: 'llvmpipe', description: 'Mesa', software: true };
      const provider: BackendProvider = {
        name: 'software-gpu',
        packageName: '@tensorflow/tfjs-backend-cpu',
        tfjsName: 'cpu',
        description: 'a GPU backend on an emulated device',
        async load() {},
        device: () => softwareGpu,
        declineAutomatic: () => 'its adapter is a software device',
      };
      const remove = registerBackendProvider(provider, { before: 'tensorflow-gpu' });
      try {
        const lines: string[] = [];
        const automatic = await selectBackend('auto', { log: (line) => lines.push(line), wasmThreads: 1 });
        expect(automatic.choice).not.toBe('software-gpu');
        expect(automatic.skipped[0]).toEqual({ name: 'software-gpu', reason: 'its adapter is a software device' });
        expect(lines[0]).toBe('backend: skipped software-gpu: its adapter is a software device');
        const named = await selectBackend('software-gpu', { log: () => {} });
        expect(named).toMatchObject({ choice: 'software-gpu', tfjsBackend: 'cpu', device: softwareGpu, skipped: [] });
      } finally {
        remove();
      }
    });

    it('passes the adapter option to the provider it loads', async () => {
      const seen: (string | undefined)[] = [];
      const provider: BackendProvider = {
        name: 'adapter-probe',
        packageName: '@tensorflow/tfjs-backend-cpu',
        tfjsName: 'cpu',
        description: 'records the adapter it is asked for',
        async load({ adapter }) {
          seen.push(adapter);
        },
      };
      const remove = registerBackendProvider(provider);
      try {
        await selectBackend('adapter-probe', { log: () => {}, adapter: 'H100' });
        await selectBackend('adapter-probe', { log: () => {} });
        expect(seen).toEqual(['H100', undefined]);
      } finally {
        remove();
      }
    });

    it('replacing a provider by name and removing it restores the original', () => {
      const original = backendProviders().find((provider) => provider.name === 'cpu');
      const remove = registerBackendProvider({ ...original!, description: 'replaced' });
      expect(backendProviders().find((provider) => provider.name === 'cpu')?.description).toBe('replaced');
      remove();
      expect(backendProviders().find((provider) => provider.name === 'cpu')).toBe(original);
    });

    it('refuses to insert before a provider that does not exist', () => {
      expect(() => registerBackendProvider(failingProvider, { before: 'nonexistent' })).toThrow(/known providers/);
    });
  });
});

describe('isPackageNotFound', () => {
  it('recognises Node ESM, Node CJS and Vite messages for the package itself', () => {
    const esm = Object.assign(new Error("Cannot find package '@tensorflow/tfjs-node' imported from /app/x.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const cjs = new Error("Cannot find module '@tensorflow/tfjs-node'\nRequire stack:\n- /app/x.js");
    const vite = new Error('Could not resolve "@tensorflow/tfjs-node" imported by "@mlaan/core". Is it installed?');
    for (const error of [esm, cjs, vite]) expect(isPackageNotFound(error, '@tensorflow/tfjs-node')).toBe(true);
  });

  it('does not mistake a missing dependency of an installed package, or another package, for it', () => {
    const dependencyMissing = new Error(
      "Cannot find package 'node-pre-gyp' imported from /app/node_modules/@tensorflow/tfjs-node/dist/index.js",
    );
    expect(isPackageNotFound(dependencyMissing, '@tensorflow/tfjs-node')).toBe(false);
    expect(isPackageNotFound(new Error("Cannot find module '@tensorflow/tfjs-node-gpu'"), '@tensorflow/tfjs-node')).toBe(false);
    expect(isPackageNotFound(new Error('libtensorflow.so.2: cannot open shared object file'), '@tensorflow/tfjs-node')).toBe(false);
  });
});

describe('provideBundledPackage', () => {
  it('makes importOptionalPackage return the module handed over, for packages a bundle has no node_modules for', async () => {
    const module = { register: () => 'bundled' };
    provideBundledPackage('@example/only-in-a-bundle', module);
    expect(await importOptionalPackage('@example/only-in-a-bundle')).toBe(module);
    // Anything else is still imported by name.
    await expect(importOptionalPackage('@example/not-installed')).rejects.toThrow();
  });
});
