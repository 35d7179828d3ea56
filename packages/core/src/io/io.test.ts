import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  importPyTorchWeights,
  loadCheckpoint,
  LocalTrainer,
  parseSafetensors,
  recoverCheckpoint,
  SafetensorsError,
  saveCheckpoint,
  serializeSafetensors,
  registerCpuTrainingKernels,
} from '../index.js';
import { disposeBatch, linearHeadHost, randomBatch, tinyBackbone } from '../testing/index.js';


let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  registerCpuTrainingKernels();
  dir = await mkdtemp(join(tmpdir(), 'mlaan-io-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('safetensors', () => {
  it('round-trips and converts PyTorch layouts', () => {
    // A conv weight in OIHW [2, 1, 1, 3] and a linear [out=2, in=3].
    const conv = new Float32Array([1, 2, 3, 4, 5, 6]);
    const bytes = serializeSafetensors([
      ['conv.weight', { dtype: 'F32', shape: [2, 1, 1, 3], data: conv }],
      ['fc.weight', { dtype: 'F32', shape: [2, 3], data: conv }],
      ['labels', { dtype: 'I32', shape: [2], data: new Int32Array([7, -1]) }],
    ]);
    const parsed = parseSafetensors(bytes);
    expect(Array.from(parsed.get('labels')!.data)).toEqual([7, -1]);
    const convVar = tf.variable(tf.zeros([1, 3, 1, 2]));
    const fcVar = tf.variable(tf.zeros([3, 2]));
    parsed.delete('labels');
    importPyTorchWeights([['conv.weight', convVar], ['fc.weight', fcVar]], parsed);
    // HWIO[0, w, 0, o] = OIHW[o, 0, 0, w]
    expect(convVar.arraySync()).toEqual([[[[1, 4]], [[2, 5]], [[3, 6]]]]);
    expect(fcVar.arraySync()).toEqual([[1, 4], [2, 5], [3, 6]]);
  });

  it('rejects truncated files, wrong shapes and missing names before assigning anything', () => {
    const bytes = serializeSafetensors([['a', { dtype: 'F32', shape: [4], data: new Float32Array(4) }]]);
    expect(() => parseSafetensors(bytes.subarray(0, bytes.length - 4), 'x.safetensors')).toThrow(/x.safetensors: tensor 'a'/);
    expect(() => parseSafetensors(bytes.subarray(0, 4))).toThrow(SafetensorsError);
    const v = tf.variable(tf.ones([3]));
    expect(() => importPyTorchWeights([['a', v]], parseSafetensors(bytes))).toThrow(/target variable is \[3\]/);
    expect(() => importPyTorchWeights([['b', v]], parseSafetensors(bytes))).toThrow(/Missing 1 tensor/);
    expect(Array.from(v.dataSync())).toEqual([1, 1, 1]);
  });
});

describe('checkpoints', () => {
  const make = () =>
    new LocalTrainer({ backbone: tinyBackbone(), cuts: [[1, 0]], plugins: [linearHeadHost()], optimizer: { learningRate: 0.05 } });

  it('resume continues exactly where it stopped', async () => {
    const batch = randomBatch();
    const a = make();
    a.step(batch);
    a.step(batch);
    a.epoch = 3;
    await saveCheckpoint(join(dir, 'ckpt'), a, { note: 'x' });
    a.step(batch);
    a.step(batch);
    const b = make();
    const manifest = await loadCheckpoint(join(dir, 'ckpt'), b);
    expect(manifest.extra).toEqual({ note: 'x' });
    expect(b.epoch).toBe(3);
    expect(b.stepCount).toBe(2);
    b.step(batch);
    b.step(batch);
    const pa = a.namedParameters();
    const pb = new Map(b.namedParameters());
    for (const [name, v] of [...pa, ...a.namedBuffers()]) {
      const other = pb.get(name) ?? new Map(b.namedBuffers()).get(name)!;
      expect(Array.from(other.dataSync()), name).toEqual(Array.from(v.dataSync()));
    }
    disposeBatch(batch);
    a.dispose();
    b.dispose();
  });

  it('a corrupt or mismatched checkpoint is a clear error, never a partial load', async () => {
    const a = make();
    await saveCheckpoint(join(dir, 'c2'), a);
    const other = new LocalTrainer({ backbone: tinyBackbone({ width: 6 }), cuts: [[1, 0]], plugins: [linearHeadHost()] });
    const before = other.namedParameters()[0]![1].dataSync().slice();
    await expect(loadCheckpoint(join(dir, 'c2'), other)).rejects.toThrow(/does not match this model/);
    expect(Array.from(other.namedParameters()[0]![1].dataSync())).toEqual(Array.from(before));
    const file = join(dir, 'c2', 'tensors.safetensors');
    const bytes = await readFile(file);
    bytes[bytes.length - 1] ^= 0xff;
    await writeFile(file, bytes);
    await expect(loadCheckpoint(join(dir, 'c2'), make())).rejects.toThrow(CheckpointError);
    await expect(loadCheckpoint(join(dir, 'nothing'), make())).rejects.toThrow(/No checkpoint at .*nothing: there is no such folder/);
  });

  // Issue 25, item 8: loadCheckpoint pointed at a file said "checkpoint.json is missing".
  it('pointed at a file, says it is a file and names the folder to pass', async () => {
    await saveCheckpoint(join(dir, 'c3'), make());
    const manifest = join(dir, 'c3', 'checkpoint.json');
    await expect(loadCheckpoint(manifest, make())).rejects.toThrow(CheckpointError);
    await expect(loadCheckpoint(manifest, make())).rejects.toThrow(
      `${manifest} is a file, not a checkpoint folder: a checkpoint is the folder saveCheckpoint wrote, holding checkpoint.json and tensors.safetensors. Pass that folder (the folder holding it is ${join(dir, 'c3')}).`,
    );
    const other = join(dir, 'weights.bin');
    await writeFile(other, 'x');
    await expect(loadCheckpoint(other, make())).rejects.toThrow(/weights\.bin is a file, not a checkpoint folder: .*Pass that folder\.$/);
    await expect(loadCheckpoint(join(dir, 'c3'), make())).resolves.toMatchObject({ format: 'mlaan-checkpoint' });
  });

  it('a save killed between its renames leaves the previous checkpoint, which recoverCheckpoint moves back', async () => {
    const a = make();
    a.epoch = 5;
    const folder = join(dir, 'killed');
    await mkdir(folder);
    const checkpoint = join(folder, 'checkpoint');
    await saveCheckpoint(checkpoint, a, { note: 'previous' });
    // The state a kill between the two renames leaves: the old checkpoint moved aside, the new one
    // written but not yet in place.
    await rename(checkpoint, `${checkpoint}.previous-4242`);
    await mkdir(`${checkpoint}.partial-4242`);
    await writeFile(join(`${checkpoint}.partial-4242`, 'tensors.safetensors'), 'unfinished');
    await expect(loadCheckpoint(checkpoint, make())).rejects.toThrow(/No checkpoint at/);

    expect(await recoverCheckpoint(checkpoint)).toBe('restored');
    expect(await readdir(folder)).toEqual(['checkpoint']);
    const b = make();
    expect((await loadCheckpoint(checkpoint, b)).extra).toEqual({ note: 'previous' });
    expect(b.epoch).toBe(5);

    // Killed after the new checkpoint moved in: the intact one stays, the leftovers go.
    await mkdir(`${checkpoint}.previous-77`);
    await mkdir(`${checkpoint}.partial-78`);
    expect(await recoverCheckpoint(checkpoint)).toBe('none');
    expect(await readdir(folder)).toEqual(['checkpoint']);
    expect(await recoverCheckpoint(join(dir, 'never-saved', 'checkpoint'))).toBe('none');
    a.dispose();
    b.dispose();
  });
});
