import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type Batch, getSplit, LocalTrainer, readSteps, selectBackend } from '@mlaan/core';
import { createLoader, datasetSpecs, loadDataset, type RandomResizedCrop } from '@mlaan/data';
import { writeImageNetLikeFolder } from '@mlaan/data/testing';
import { resnet34 } from '@mlaan/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSettings } from './configuration/resolve-settings.js';
import { FRAMEWORKS, frameworkDefinition, frameworkOptionsOf, type PluginBuildContext } from './registry/frameworks.js';
import { PLUGIN_SETS } from './registry/plugin-sets.js';

/**
 * The paper-imagenet grid's pieces on a tiny generated ImageNet folder: the JPEG loader (sharp,
 * a worker thread, the random resized crop + flip), ResNet-34 cut into one module per block (the
 * authors' K = 16), each host with MLM's cascades (kc = 3), the preset's optimiser. The crop is
 * 32 instead of 224, and LAM is left out: its leap nets copy up to five later blocks for each of
 * the 15 modules (some 150 M more parameters), hours of CPU. The leap lists are checked in
 * @mlaan/lam; `benchmarks/imagenet-folder.ts` + `mlaan-bench --preset paper-imagenet` run
 * everything at full size.
 */
const CROP = 32;
const STEPS = 3;
const BATCH = 8;
const root = mkdtempSync(join(tmpdir(), 'mlaan-imagenet-path-'));
let batch: Batch;

beforeAll(async () => {
  await selectBackend('wasm', { log: () => {} });
  const dataDir = await writeImageNetLikeFolder({ root, classes: 4, perClass: 2, width: 96, height: 72 });
  const dataset = await loadDataset({ name: 'imagenet', dataDir });
  const loader = createLoader(dataset, { batchSize: BATCH, seed: 0, workers: 1, augment: { ...(datasetSpecs.imagenet.train as RandomResizedCrop), size: CROP } });
  expect(loader.decoder).toBe('sharp');
  for await (const first of loader.batches(0)) {
    batch = first;
    break;
  }
  await loader.close();
});

afterAll(() => {
  tf.dispose([batch.inputs, batch.labels]);
  rmSync(root, { recursive: true, force: true });
});

describe('the ImageNet path trains (paper-imagenet at a 32-pixel crop)', () => {
  const settings = resolveSettings('paper-imagenet', {});

  it.each(['dgl', 'infopro'] as const)('%s + MLM on ResNet-34, one module per block: every loss finite, the losses falling', async (framework) => {
    expect(settings.Ks).toEqual(['per-block']);
    const backbone = resnet34({ classes: 4, seed: 0, inputSize: CROP });
    const cuts = FRAMEWORKS[framework].local ? getSplit({ net: 'resnet34', K: 'per-block' }) : [];
    const context: PluginBuildContext = {
      network: 'resnet34',
      dataset: 'imagenet',
      modules: cuts.length + 1,
      seed: 0,
      mlaanProfile: settings.mlaanProfile,
      balancedSplit: false,
    };
    const local = FRAMEWORKS[framework].local;
    const plugins = local ? [...(await frameworkDefinition(framework).hostPlugins(context, frameworkOptionsOf(framework, settings.frameworkOptions[framework]))), ...(await PLUGIN_SETS.mlm.plugins(context))] : [];
    const trainer = new LocalTrainer({
      backbone,
      cuts,
      plugins,
      mode: FRAMEWORKS[framework].mode,
      seed: 0,
      // The preset's rate is for batch 128: scaled linearly to this batch, as ImageNet recipes do.
      optimizer: { learningRate: (settings.learningRate * BATCH) / settings.batchSize, momentum: settings.momentum, nesterov: settings.nesterov, weightDecay: settings.weightDecay },
    });
    try {
      // One batch, repeated: the losses of a working path must fall on it within a few steps.
      const steps = await readSteps(Array.from({ length: STEPS }, () => trainer.step(batch)));
      const terms = Object.keys(steps[0]!.losses);
      expect(terms.length).toBeGreaterThanOrEqual(FRAMEWORKS[framework].local ? 2 * 15 : 1);
      for (const step of steps) for (const term of terms) expect(Number.isFinite(step.losses[term]), term).toBe(true);
      // Three steps move every module, but a deep module's own term may still bounce (measured:
      // 22-26 of 32 fall): the sum and the last module's loss must fall, and most terms with them.
      const total = (step: (typeof steps)[number]) => terms.reduce((sum, term) => sum + step.losses[term]!, 0);
      expect(total(steps[STEPS - 1]!)).toBeLessThan(total(steps[0]!));
      expect(steps[STEPS - 1]!.loss).toBeLessThan(steps[0]!.loss);
      const falling = terms.filter((term) => steps[STEPS - 1]!.losses[term]! < steps[0]!.losses[term]!);
      expect(falling.length, `falling: ${falling.join(', ')}`).toBeGreaterThan((2 * terms.length) / 3);
    } finally {
      trainer.dispose();
      backbone.dispose();
    }
  });
});
