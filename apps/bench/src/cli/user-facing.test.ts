import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { EVAL, importPyTorchWeights, readSafetensors } from '@mlaan/core';
import { createNetwork } from '@mlaan/models';
import { cifarFolder as findCifarFolder } from '@mlaan/test-support';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDirectoryFor } from '../data.js';
import { removeScratchFolders, runCli as cli, runFolders, scratchFolder as scratch } from '../testing.js';

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cifarFolder = findCifarFolder();
afterAll(removeScratchFolders);

describe('--version', () => {
  it('prints the version of the app and exits 0', async () => {
    const { version } = JSON.parse(await readFile(join(appDir, 'package.json'), 'utf8'));
    const { code, stdout } = await cli(['--version']);
    expect(stdout.trim()).toBe(version);
    expect(code).toBe(0);
  });
});

describe('--infopro-lambda', () => {
  it.each([
    [['run', '--framework', 'infopro', '--infopro-lambda', '5,0.5,0'], /--infopro-lambda <weights>' argument '5,0.5,0' is invalid\. Expected four comma-separated numbers/],
    [['run', '--framework', 'infopro', '--infopro-lambda', '5,-1,0,0'], /ixy1 is '-1'; each weight must be a number >= 0/],
    [['run', '--infopro-lambda', '5,0.5,0,0'], /--infopro-lambda applies to --framework infopro only/],
  ])('%j is refused with exit code 2', async (argv, message) => {
    const { code, stderr } = await cli(argv as string[]);
    expect(stderr).toMatch(message);
    expect(code).toBe(2);
  });

  it('InfoPro at a K without a paper λ is refused before training, naming the CLI options (exit 2)', async () => {
    const out = await scratch('lambda');
    const { code, stderr } = await cli(['run', '--framework', 'infopro', '--K', '3', '--epochs', '1', '--backend', 'cpu', '--out', out, '--progress', 'none']);
    expect(stderr).toMatch(/The InfoPro paper gives no λ for cifar10, resnet32, K=3/);
    expect(stderr).toMatch(/--infopro-lambda ixx1,ixy1,ixx2,ixy2/);
    expect(stderr).toMatch(/--K 2 \/ 4 \/ 8 \/ 16/);
    expect(stderr).not.toMatch(/infoPro\(\{/);
    expect(code).toBe(2);
    expect(existsSync(out) ? await runFolders(out) : []).toEqual([]);
  });
});

describe('a missing dataset', () => {
  it('says --download and --data-dir, not the API options, and leaves no empty runs/<id> folder', async () => {
    const out = await scratch('nodata');
    const empty = await scratch('empty-data');
    const { code, stderr } = await cli([
      'run', '--data-dir', empty, '--epochs', '1', '--train-limit', '16', '--backend', 'cpu', '--out', out, '--progress', 'none',
    ]);
    expect(stderr).toMatch(/cifar10 \(train\) was not found: looked in .*Add --download to fetch it, or pass --data-dir/);
    expect(stderr).not.toMatch(/download: true|dataDir/);
    expect(code).toBe(1);
    expect(await runFolders(out)).toEqual([]);
  });
});

describe('--data-dir', () => {
  it('takes the datasets folder or the cifar-10-batches-bin folder itself', async () => {
    const root = await scratch('data-dir');
    const batches = join(root, 'cifar10', 'cifar-10-batches-bin');
    await mkdir(batches, { recursive: true });
    await writeFile(join(batches, 'test_batch.bin'), '');
    expect(dataDirectoryFor('cifar10', root)).toBe(root);
    expect(dataDirectoryFor('cifar10', batches)).toBe(root);
    expect(dataDirectoryFor('cifar10', join(root, 'cifar10'))).toBe(join(root, 'cifar10'));
    // A folder of that name without the dataset in it is taken as given.
    expect(dataDirectoryFor('cifar10', join(root, 'elsewhere', 'cifar-10-batches-bin'))).toBe(join(root, 'elsewhere', 'cifar-10-batches-bin'));
  });
});

describe.skipIf(cifarFolder === undefined)('a tiny run on real CIFAR-10 (wasm)', () => {
  const tiny = (out: string, ...extra: string[]) => [
    'run', '--epochs', '1', '--train-limit', '32', '--test-limit', '20', '--batch-size', '16', '--eval-batch-size', '20',
    '--schedule', 'constant', '--lr', '0.05', '--backend', 'wasm', '--progress', 'none', '--data-dir', cifarFolder!, '--out', out, ...extra,
  ];
  let out: string;
  let exportDir: string;
  let first: { code: number; stdout: string; stderr: string };
  beforeAll(async () => {
    out = await scratch('tiny');
    exportDir = join(out, 'exported');
    // --data-dir names the cifar-10-batches-bin folder itself here.
    first = await cli(tiny(out, '--export', exportDir));
  });

  it('--export writes PyTorch safetensors and a TensorFlow.js LayersModel of the final model', async () => {
    expect(first.stderr).not.toContain('FAILED');
    expect(first.code).toBe(0);
    const [id] = await runFolders(out);
    const folder = join(exportDir, id!);
    const manifest = JSON.parse(await readFile(join(folder, 'export.json'), 'utf8'));
    expect(manifest).toMatchObject({ network: 'resnet32', dataset: 'cifar10', configuration: id, input: { height: 32, width: 32, channels: 3 } });
    expect(manifest.classes).toHaveLength(10);

    // The safetensors file restores the network exactly; the LayersModel predicts its eval logits.
    const restored = createNetwork('resnet32', { classes: 10, seed: 99 });
    importPyTorchWeights(restored.namedVariables(), await readSafetensors(join(folder, 'model.safetensors')));
    const modelJson = JSON.parse(await readFile(join(folder, 'tfjs', 'model.json'), 'utf8'));
    const [group] = modelJson.weightsManifest;
    const weightData = new Uint8Array(Buffer.concat(await Promise.all(group.paths.map((p: string) => readFile(join(folder, 'tfjs', p)))))).buffer;
    const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: group.weights, weightData }));
    const images = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3);
    const difference = tf.tidy(() => tf.max(tf.abs(tf.sub(model.predict(images) as tf.Tensor, restored.apply(images, EVAL)))).dataSync()[0]!);
    expect(difference).toBeLessThan(1e-5);
    tf.dispose(images);
    model.dispose();
    restored.dispose();
  });

  it('a corrupt checkpoint names --force, and --force recovers', async () => {
    const [id] = await runFolders(out);
    const runDir = join(out, 'runs', id!);
    await rm(join(runDir, 'result.json'));
    await mkdir(join(runDir, 'checkpoint'), { recursive: true });
    await writeFile(join(runDir, 'checkpoint', 'checkpoint.json'), '{ cut off');
    const broken = await cli(tiny(out));
    expect(broken.stderr).toMatch(/checkpoint\.json is not valid JSON.*Rerun the same command with --force to train this configuration from the start/s);
    expect(broken.code).toBe(1);
    const forced = await cli(tiny(out, '--force'));
    expect(forced.code).toBe(0);
    expect(existsSync(join(runDir, 'result.json'))).toBe(true);
  });
});
