import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Backbone,
  EVAL,
  ExportError,
  exportPyTorchWeights,
  SafetensorsError,
  importPyTorchWeights,
  MaxPool2d,
  parseSafetensors,
  readSafetensors,
  SeededRandom,
  Sequential,
  serializeSafetensors,
  toLayersModelArtifacts,
  writeLayersModel,
  writePyTorchSafetensors,
} from '../index.js';
import { tinyBackbone } from '../testing/index.js';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'mlaan-export-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Move every BatchNorm away from its initial statistics so that a swapped name cannot pass. */
function perturbBuffers(backbone: Backbone, seed: number): void {
  const random = new SeededRandom(seed);
  for (const [name, v] of backbone.namedBuffers()) {
    const values = random.fillUniform(new Float32Array(v.size), 0.5, 1.5);
    if (name.endsWith('running_mean')) for (let i = 0; i < values.length; i++) values[i] = values[i]! - 1;
    v.assign(tf.tensor(values, v.shape));
  }
}

/** Reads a model.json and its weight files the way tfjs's file:// and http loaders do. */
function fileHandler(modelPath: string): tf.io.IOHandler {
  return {
    async load() {
      const model = JSON.parse(await readFile(modelPath, 'utf8'));
      const [group] = model.weightsManifest;
      const shards = await Promise.all(group.paths.map((p: string) => readFile(join(dirname(modelPath), p))));
      const weightData = new Uint8Array(Buffer.concat(shards)).buffer;
      return { modelTopology: model.modelTopology, format: model.format, weightSpecs: group.weights, weightData };
    },
  };
}

describe('exportPyTorchWeights', () => {
  it('writes PyTorch layouts: conv OIHW, linear [out, in], plus the BatchNorm step counters', async () => {
    const backbone = tinyBackbone({ seed: 3 });
    const tensors = await exportPyTorchWeights(backbone.namedVariables());
    const conv = tensors.get('conv1.weight')!;
    const hwio = (await backbone.stem.layer.namedParameters()[0]![1].array()) as number[][][][];
    // conv1: HWIO [3, 3, 3, 4] here, OIHW [4, 3, 3, 3] in PyTorch; element (o=2, i=1, h=0, w=2).
    expect(conv.shape).toEqual([4, 3, 3, 3]);
    expect(conv.data[((2 * 3 + 1) * 3 + 0) * 3 + 2]).toBe(hwio[0]![2]![1]![2]);
    const fc = tensors.get('fc.weight')!;
    expect(fc.shape).toEqual([3, 8]);
    const inOut = (await backbone.classifier.namedParameters()[0]![1].array()) as number[][];
    expect(fc.data[2 * 8 + 5]).toBe(inOut[5]![2]);
    const counters = [...tensors.keys()].filter((k) => k.endsWith('num_batches_tracked'));
    expect(counters).toContain('bn1.num_batches_tracked');
    expect(counters).toContain('layer2.0.downsample.1.num_batches_tracked');
    expect(counters.length).toBe(backbone.namedBuffers().length / 2);
    expect(tensors.get('bn1.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    backbone.dispose();
  });

  it('round-trips exactly through a safetensors file and importPyTorchWeights', async () => {
    const source = tinyBackbone({ seed: 3 });
    perturbBuffers(source, 11);
    const target = tinyBackbone({ seed: 4 });
    const path = join(dir, 'tiny.safetensors');
    await writePyTorchSafetensors(path, source.namedVariables(), { batchesTracked: 5 });
    const file = await readSafetensors(path);
    expect(file.get('bn1.num_batches_tracked')).toMatchObject({ dtype: 'I64', data: Int32Array.of(5) });
    importPyTorchWeights(target.namedVariables(), file);
    const targetVariables = new Map(target.namedVariables());
    for (const [name, v] of source.namedVariables()) {
      expect(Array.from(await targetVariables.get(name)!.data()), name).toEqual(Array.from(await v.data()));
    }
    source.dispose();
    target.dispose();
  });

  // Issue 25, item 8: writePyTorchSafetensors did not create its folder (writeLayersModel does).
  it('creates the folder it writes into', async () => {
    const backbone = tinyBackbone({ seed: 3 });
    const path = join(dir, 'not', 'yet', 'there', 'tiny.safetensors');
    await writePyTorchSafetensors(path, backbone.namedVariables());
    expect((await readSafetensors(path)).get('conv1.weight')?.shape).toEqual([4, 3, 3, 3]);
    backbone.dispose();
  });

  // Issue 25, defect 4: options outside the plugins were not checked.
  it('rejects unknown options (with a did-you-mean) and bad values before reading or writing anything', async () => {
    const backbone = tinyBackbone({ seed: 3 });
    const variables = backbone.namedVariables();
    const path = join(dir, 'never-written.safetensors');
    await expect(writePyTorchSafetensors(path, variables, { batchTracked: 3 } as never)).rejects.toThrow(
      /^writePyTorchSafetensors\(\): unknown option\(s\) 'batchTracked' \('batchTracked': did you mean 'batchesTracked'\?\)/,
    );
    await expect(writePyTorchSafetensors(path, variables, { batchesTracked: -1 })).rejects.toThrow(SafetensorsError);
    await expect(writePyTorchSafetensors(path, variables, { metadata: { epoch: 3 } as never })).rejects.toThrow(/metadata must map names to strings .*'epoch' is not/);
    await expect(exportPyTorchWeights(variables, { batchesTracked: 1.5 })).rejects.toThrow(/exportPyTorchWeights\(\): batchesTracked must be an integer >= 0/);
    await expect(readFile(path)).rejects.toThrow(/ENOENT/);
    const file = await exportPyTorchWeights(variables);
    const raw = parseSafetensors(serializeSafetensors(file));
    expect(() => importPyTorchWeights(variables, raw, { allowUnusd: true } as never)).toThrow(/did you mean 'allowUnused'/);
    expect(() => importPyTorchWeights(variables, raw, { rename: 'x' } as never)).toThrow(/importPyTorchWeights\(\): rename must be a function/);
    backbone.dispose();
  });

  it('serialises int64 tensors little-endian, as PyTorch reads them', () => {
    const bytes = serializeSafetensors([['n', { dtype: 'I64', shape: [2], data: BigInt64Array.of(3n, -2n) }]]);
    expect(parseSafetensors(bytes).get('n')).toMatchObject({ dtype: 'I64', shape: [2], data: Int32Array.of(3, -2) });
  });
});

describe('LayersModel export', () => {
  it('loads with tfjs-layers and predicts the eval-mode logits of the backbone', async () => {
    const backbone = tinyBackbone({ seed: 5 });
    perturbBuffers(backbone, 12);
    const x = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 9);
    const expected = backbone.apply(x, EVAL);
    const model = await tfl.loadLayersModel(tf.io.fromMemory(await toLayersModelArtifacts(backbone)));
    const predicted = model.predict(x) as tf.Tensor;
    expect(predicted.shape).toEqual(expected.shape);
    const difference = (await tf.max(tf.abs(tf.sub(predicted, expected))).data())[0]!;
    expect(difference).toBeLessThan(1e-5);
    // The stride-2 block pads both sides like PyTorch (tfjs 'same' would pad one side only).
    expect(model.getLayer('layer2.0.conv1.pad').getConfig()).toMatchObject({ padding: [[1, 1], [1, 1]] });
    model.dispose();
    tf.dispose([x, expected, predicted]);
    backbone.dispose();
  });

  // Issue 25, item 8: the stem's layers were named stem.conv1/stem.bn1 where PyTorch (and the
  // README) say conv1/bn1. Every layer with weights is named as its PyTorch module.
  it("names every layer with weights as its PyTorch module (the state dict's prefix)", async () => {
    const backbone = tinyBackbone({ seed: 5 });
    const stateDict = new Set((await exportPyTorchWeights(backbone.namedVariables())).keys());
    const model = await tfl.loadLayersModel(tf.io.fromMemory(await toLayersModelArtifacts(backbone)));
    const weighted = model.layers.filter((layer) => layer.getWeights().length > 0).map((layer) => layer.name);
    expect(weighted.length).toBe(new Set([...stateDict].map((key) => key.slice(0, key.lastIndexOf('.')))).size);
    for (const name of weighted) expect(stateDict.has(`${name}.weight`), name).toBe(true);
    expect(weighted.slice(0, 2)).toEqual(['conv1', 'bn1']);
    model.dispose();
    backbone.dispose();
  });

  it('writes model.json and weight shards that load from disk', async () => {
    const backbone = tinyBackbone({ seed: 6 });
    perturbBuffers(backbone, 13);
    const out = join(dir, 'layers-model');
    const { modelPath, weightPaths } = await writeLayersModel(out, backbone);
    expect(weightPaths).toEqual([join(out, 'group1-shard1of1.bin')]);
    const model = await tfl.loadLayersModel(fileHandler(modelPath));
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 10);
    const difference = tf.tidy(() => tf.max(tf.abs(tf.sub(model.predict(x) as tf.Tensor, backbone.apply(x, EVAL)))).dataSync()[0]!);
    expect(difference).toBeLessThan(1e-5);
    model.dispose();
    x.dispose();
    backbone.dispose();
  });

  it('refuses a padded max-pool whose input can be negative, naming the layer', async () => {
    const backbone = tinyBackbone({ seed: 7 });
    const odd = new Backbone({
      id: 'odd',
      stem: { ...backbone.stem, layer: new Sequential([['pool', new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 })]]) },
      blocks: [],
      classifier: backbone.classifier,
      classes: 3,
      inputSize: 8,
    });
    await expect(toLayersModelArtifacts(odd)).rejects.toThrow(ExportError);
    await expect(toLayersModelArtifacts(odd)).rejects.toThrow(/Cannot export 'pool'/);
    backbone.dispose();
  });
});
