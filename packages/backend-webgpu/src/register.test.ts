import * as tf from '@tensorflow/tfjs-core';
import { assignAdapters, selectBackend } from '@mlaan/core';
import { describe, expect, it } from 'vitest';
import { describeAdapter, formatAdapter } from './adapter.js';
import type { GpuAdapterLike } from './dawn.js';
import { listAdapters, requestDawnAdapter } from './dawn.js';
import { WebGpuUnavailableError } from './errors.js';
import { activeAdapter, register } from './register.js';
import { suiteTitle, webGpuUnavailableReason } from './test-support.js';

function adapter(info: Partial<GpuAdapterLike['info']>, isFallbackAdapter?: boolean): GpuAdapterLike {
  return {
    info: { vendor: '', architecture: '', device: '', description: '', ...info },
    ...(isFallbackAdapter === undefined ? {} : { isFallbackAdapter }),
    features: { has: () => false },
    limits: {},
    requestDevice: async () => ({}),
  };
}

describe('describeAdapter', () => {
  it('reports vendor, architecture and name, and tells a software device from a GPU', () => {
    const hopper = describeAdapter(adapter({ vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H100 80GB HBM3', description: 'NVIDIA: 550.54' }));
    expect(hopper).toEqual({ vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H100 80GB HBM3', description: 'NVIDIA: 550.54', software: false });
    expect(formatAdapter(hopper)).toBe('nvidia hopper: NVIDIA H100 80GB HBM3');
    // The ways a driver says it is a CPU: the WebGPU flag (on the info, or on the adapter in older
    // implementations), the 'software' architecture, or only its name.
    expect(describeAdapter(adapter({ vendor: 'mesa', device: 'x', isFallbackAdapter: true })).software).toBe(true);
    expect(describeAdapter(adapter({ vendor: 'mesa', device: 'x' }, true)).software).toBe(true);
    expect(describeAdapter(adapter({ architecture: 'software', device: 'x' })).software).toBe(true);
    expect(describeAdapter(adapter({ device: 'SwiftShader Device (Subzero)' })).software).toBe(true);
    expect(describeAdapter(adapter({ description: 'llvmpipe: Mesa 25.0.7' })).software).toBe(true);
    expect(formatAdapter(describeAdapter(adapter({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe' })))).toBe(
      'mesa software: llvmpipe (software device: a CPU emulating a GPU)',
    );
  });
});

describe.skipIf(webGpuUnavailableReason !== null)(suiteTitle('the webgpu backend on this machine'), () => {
  it('register() is idempotent and describes the adapter it chose', async () => {
    expect(await register()).toBe('webgpu');
    const described = activeAdapter()!;
    expect(described.device.length).toBeGreaterThan(0);
    expect(typeof described.software).toBe('boolean');
  });

  it("selectBackend('webgpu') runs on it and reports the device; a kernel computes", async () => {
    const selected = await selectBackend('webgpu', { log: () => {} });
    const described = activeAdapter()!;
    expect(selected).toMatchObject({ choice: 'webgpu', tfjsBackend: 'webgpu', skipped: [] });
    expect(selected.device).toEqual({
      vendor: described.vendor,
      architecture: described.architecture,
      name: described.device,
      description: described.description,
      software: described.software,
    });
    expect(selected.description).toContain(formatAdapter(described));
    const sum = tf.sum(tf.tensor1d([1, 2, 3]));
    expect(await sum.data()).toEqual(new Float32Array([6]));
    sum.dispose();
  });

  it("'auto' never takes a software adapter and says why", async () => {
    const selected = await selectBackend('auto', { log: () => {}, wasmThreads: 1 });
    if (activeAdapter()!.software) {
      expect(selected.choice).not.toBe('webgpu');
      expect(selected.skipped.find((skip) => skip.name === 'webgpu')?.reason).toMatch(/software device .*'auto' takes only a hardware GPU/);
    }
  });

  it('lists the adapters Dawn finds, and one can be picked by part of its name', async () => {
    const adapters = await listAdapters();
    expect(adapters.length).toBeGreaterThan(0);
    const first = adapters[0]!;
    const { adapter: picked } = await requestDawnAdapter({ adapterName: first.name.slice(0, 6) });
    expect(describeAdapter(picked).description.length + describeAdapter(picked).device.length).toBeGreaterThan(0);
    const missing = await requestDawnAdapter({ adapterName: 'no GPU is called this' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(missing).toBeInstanceOf(WebGpuUnavailableError);
    expect((missing as Error).message).toContain(first.name);
  });

  it("core's webgpu provider lists Dawn's adapters for pipeline workers", async () => {
    await selectBackend('webgpu', { log: () => {} });
    const listed = (await listAdapters()).map((adapter) => adapter.name);
    const assignment = await assignAdapters('webgpu', 2);
    expect(assignment.devices).toEqual(listed);
    // One adapter (lavapipe, or one GPU): both workers take it.
    if (listed.length === 1) expect(assignment.adapters).toEqual([undefined, undefined]);
  });

  it('refuses another adapter once the backend runs in this thread', async () => {
    await selectBackend('webgpu', { log: () => {} });
    await expect(register({ adapterName: 'another GPU' })).rejects.toThrow(/already runs on .*one WebGPU adapter/);
  });
});
