import { describe, expect, it } from 'vitest';
import { PluginPackageError } from '../errors.js';
import { FRAMEWORKS, frameworkOptionsOf } from './frameworks.js';
import { importPluginPackage, importUntyped } from './import-package.js';
import { PLUGIN_SETS } from './plugin-sets.js';
import { findPublished } from './published.js';

describe('plugin packages', () => {
  it('a missing package becomes an error naming it and how to install it', async () => {
    const attempt = importPluginPackage('@mlaan/not-a-package', "Framework 'x'", () => importUntyped('@mlaan/not-a-package'));
    await expect(attempt).rejects.toBeInstanceOf(PluginPackageError);
    await expect(attempt).rejects.toThrow(/Framework 'x' needs @mlaan\/not-a-package, which is not installed or not built\. Install it with `npm install @mlaan\/not-a-package`/);
  });

  it('other failures pass through unchanged', async () => {
    const broken = new TypeError('boom');
    await expect(importPluginPackage('@mlaan/dgl', 'x', () => Promise.reject(broken))).rejects.toBe(broken);
  });

  it('builds each framework and plugin set as the plugins the trainer takes', async () => {
    const context = { network: 'resnet32', dataset: 'cifar10', modules: 4, seed: 0, mlaanProfile: 'paper' as const, balancedSplit: false };
    expect(await FRAMEWORKS.e2e.hostPlugins(context, {})).toEqual([]);
    expect((await FRAMEWORKS.dgl.hostPlugins(context, { head: 'mlp-sr' })).map((p) => p.name)).toEqual(['dgl']);
    expect((await FRAMEWORKS.infopro.hostPlugins(context, { task: 'contrast', auxHead: '1c2f', lambda: undefined })).map((p) => p.name)).toEqual(['infopro']);
    expect(await PLUGIN_SETS.none.plugins()).toEqual([]);
    expect((await PLUGIN_SETS.mlm.plugins(context)).map((p) => p.name)).toEqual(['mlm']);
    expect((await PLUGIN_SETS.lam.plugins(context)).map((p) => p.name)).toEqual(['lam']);
    expect((await PLUGIN_SETS.mlaan.plugins(context)).map((p) => p.name)).toEqual(['mlm', 'lam']);
  });
});

describe('findPublished', () => {
  const query = { dataset: 'cifar10', network: 'resnet32', method: 'InfoPro', K: 4, batchSize: 1024, split: 'default' as const, frameworkOptions: frameworkOptionsOf('infopro', {}) };

  it('finds METHOD §7’s number for the same setting only', () => {
    expect(findPublished(query).testErrorPercent?.testErrorPercent).toBe(8.58);
    expect(findPublished({ ...query, frameworkOptions: frameworkOptionsOf('infopro', { task: 'cross-entropy' }) }).testErrorPercent).toBeUndefined();
    expect(findPublished({ ...query, method: 'InfoPro+MLAAN' }).testErrorPercent).toBeUndefined();
    expect(findPublished({ ...query, method: 'DGL', K: 16, frameworkOptions: {} }).testErrorPercent?.testErrorPercent).toBe(16.21);
    expect(findPublished({ ...query, method: 'E2E', K: 1, frameworkOptions: {} }).testErrorPercent?.testErrorPercent).toBe(7.37);
  });

  it('shows the published GPU memory only at batch 1024, and InfoPro’s only with the balanced split', () => {
    const r110 = { ...query, network: 'resnet110', K: 3, split: 'balanced' as const };
    expect(findPublished(r110).gpuMemoryGB?.gpuMemoryGB).toBe(4.22);
    expect(findPublished({ ...r110, split: 'default' }).gpuMemoryGB).toBeUndefined();
    expect(findPublished({ ...r110, batchSize: 64 }).gpuMemoryGB).toBeUndefined();
    expect(findPublished({ ...r110, method: 'E2E', K: 1, split: 'default', frameworkOptions: {} }).gpuMemoryGB?.gpuMemoryGB).toBe(9.4);
  });
});
