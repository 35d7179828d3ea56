import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Backbone, EVAL, serializeSafetensors, toLayersModelArtifacts, TRAIN, writePyTorchSafetensors } from '@mlaan/core';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resnet32 } from './resnet.js';

const here = dirname(fileURLToPath(import.meta.url));
const checkScript = join(here, '..', 'python', 'check_pytorch_export.py');
// Debian's python3-torch lives in /usr/bin/python3; MLAAN_PYTHON names another Python with torch.
const python = process.env.MLAAN_PYTHON ?? '/usr/bin/python3';
const torchVersion = (() => {
  const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
})();
// The MLAAN authors' CIFAR-SVHN-STL folder (github Wendy231015/MLAAN), when checked out.
const authorsCode = process.env.MLAAN_AUTHORS_CODE;

let dir: string;
let backbone: Backbone;
let images: tf.Tensor4D;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'mlaan-models-export-'));
  backbone = resnet32({ seed: 3 });
  // Running statistics of real forward passes (as after training), so that a swapped or
  // mis-laid-out buffer changes the logits while they keep a trained network's scale.
  const statistics = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 21);
  for (let pass = 0; pass < 2; pass++) backbone.apply(statistics, TRAIN).dispose();
  statistics.dispose();
  images = tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', 5);
});
afterAll(async () => {
  backbone.dispose();
  images.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function maxDifference(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const difference = tf.max(tf.abs(tf.sub(a, b)));
  const value = (await difference.data())[0]!;
  difference.dispose();
  return value;
}

async function pytorchLogits(extraArguments: string[]): Promise<{ model: string; logits: number[][] }> {
  const weights = join(dir, 'resnet32.safetensors');
  await writePyTorchSafetensors(weights, backbone.namedVariables());
  const nchw = tf.transpose(images, [0, 3, 1, 2]);
  const imagesPath = join(dir, 'images.safetensors');
  await writeFile(imagesPath, serializeSafetensors([['images', { dtype: 'F32', shape: nchw.shape, data: (await nchw.data()) as Float32Array }]]));
  nchw.dispose();
  const run = spawnSync(python, [checkScript, '--weights', weights, '--images', imagesPath, ...extraArguments], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${python} ${checkScript} failed:\n${run.stderr}`);
  return JSON.parse(run.stdout);
}

describe('ResNet-32 export to PyTorch', () => {
  it.skipIf(torchVersion === undefined)(`loads with load_state_dict(strict=True) and gives the same eval logits (torch ${torchVersion ?? 'absent'})`, async () => {
    const { model, logits } = await pytorchLogits([]);
    expect(model).toBe('ResNet32');
    const ours = backbone.apply(images, EVAL);
    const theirs = tf.tensor(logits);
    expect(await maxDifference(ours, theirs)).toBeLessThan(1e-4);
    tf.dispose([ours, theirs]);
  });

  it.skipIf(torchVersion === undefined || authorsCode === undefined || !existsSync(resolve(authorsCode ?? '.', 'networks')))(
    "loads into the authors' InfoPro ResNet-32 (K = 1) with strict=True (MLAAN_AUTHORS_CODE)",
    async () => {
      const { model, logits } = await pytorchLogits(['--authors-code', authorsCode!]);
      expect(model).toBe('InfoProResNet');
      const ours = backbone.apply(images, EVAL);
      const theirs = tf.tensor(logits);
      expect(await maxDifference(ours, theirs)).toBeLessThan(1e-4);
      tf.dispose([ours, theirs]);
    },
  );
});

describe('ResNet-32 export to a TensorFlow.js LayersModel', () => {
  it('predicts the eval-mode logits within 1e-5', async () => {
    const model = await tfl.loadLayersModel(tf.io.fromMemory(await toLayersModelArtifacts(backbone)));
    const predicted = model.predict(images) as tf.Tensor;
    const expected = backbone.apply(images, EVAL);
    expect(predicted.shape).toEqual([3, 10]);
    expect(await maxDifference(predicted, expected)).toBeLessThan(1e-5);
    expect(model.layers.filter((layer) => layer.getClassName() === 'Conv2D')).toHaveLength(1 + 15 * 2 + 2);
    tf.dispose([predicted, expected]);
    model.dispose();
  });
});
