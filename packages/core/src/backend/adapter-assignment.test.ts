import { describe, expect, it } from 'vitest';
import { assignAdapters, recipeForWorker } from './adapter-assignment.js';
import { registerBackendProvider, type BackendProvider } from './providers.js';

function gpuBackend(devices: string[] | undefined): BackendProvider {
  return {
    name: 'fake-gpu',
    packageName: '@example/fake-gpu',
    tfjsName: 'fake-gpu',
    description: 'a GPU backend that lists devices',
    async load() {},
    ...(devices ? { listDevices: async () => devices } : {}),
  };
}

async function assignedWith(devices: string[] | undefined, workers: number) {
  const remove = registerBackendProvider(gpuBackend(devices));
  try {
    return await assignAdapters('fake-gpu', workers);
  } finally {
    remove();
  }
}

describe('assignAdapters', () => {
  it('gives each worker its own device, round robin, where the names tell them apart', async () => {
    expect((await assignedWith(['NVIDIA A100', 'AMD Radeon RX 7900'], 2)).adapters).toEqual(['NVIDIA A100', 'AMD Radeon RX 7900']);
    const three = await assignedWith(['NVIDIA A100', 'AMD Radeon RX 7900'], 3);
    expect(three.adapters).toEqual(['NVIDIA A100', 'AMD Radeon RX 7900', 'NVIDIA A100']);
    expect(three.note).toMatch(/workers beyond those share a device/);
  });

  it("leaves workers to the backend's choice where devices cannot be told apart or there is one", async () => {
    const identical = await assignedWith(['NVIDIA H100', 'NVIDIA H100'], 2);
    expect(identical.adapters).toEqual([undefined, undefined]);
    expect(identical.note).toMatch(/share the name 'NVIDIA H100'/);
    expect((await assignedWith(['llvmpipe'], 2)).adapters).toEqual([undefined, undefined]);
    // A CPU backend lists no devices.
    expect(await assignedWith(undefined, 2)).toEqual({ adapters: [undefined, undefined], devices: [] });
  });

  it('names only the devices whose name is their own', async () => {
    const mixed = await assignedWith(['NVIDIA H100', 'NVIDIA H100', 'NVIDIA A100'], 2);
    expect(mixed.adapters).toEqual([undefined, 'NVIDIA A100']);
  });

  it('refuses a backend it does not know', async () => {
    await expect(assignAdapters('no-such-backend', 2)).rejects.toThrow(/no backend provider named 'no-such-backend'/);
  });
});

describe('recipeForWorker', () => {
  const assignment = { adapters: ['H100 #0', 'A100', undefined], devices: ['H100 #0', 'A100', 'A100 x'] };
  const recipe = { module: 'recipe.js', backend: 'webgpu', backendOptions: { wasmThreads: 2 } };

  it("names each pipeline worker's adapter in its recipe's backend options, keeping the others", () => {
    expect(recipeForWorker(recipe, assignment, 0)).toEqual({ ...recipe, backendOptions: { wasmThreads: 2, adapter: 'H100 #0' } });
    expect(recipeForWorker(recipe, assignment, 1).backendOptions).toEqual({ wasmThreads: 2, adapter: 'A100' });
    expect(recipe.backendOptions).toEqual({ wasmThreads: 2 });
  });

  it("leaves the recipe as it is where the worker has no adapter, there is no assignment, or the recipe names one", () => {
    expect(recipeForWorker(recipe, assignment, 2)).toBe(recipe);
    expect(recipeForWorker(recipe, undefined, 0)).toBe(recipe);
    const named = { ...recipe, backendOptions: { adapter: 'RTX' } };
    expect(recipeForWorker(named, assignment, 0)).toBe(named);
  });
});
