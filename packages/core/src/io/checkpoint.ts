import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CheckpointError, CorruptCheckpointError } from '../errors.js';
import type { NamedVariable } from '../layers/layer.js';
import { SeededRandom } from '../random.js';
import type { LocalTrainer } from '../training/trainer.js';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'mlaan-checkpoint';
export const CHECKPOINT_VERSION = 1;
const TENSORS_FILE = 'tensors.safetensors';
const MANIFEST_FILE = 'checkpoint.json';
const MOMENTUM_PREFIX = 'optimizer.momentum.';
// What a save writes beside `dir`: the new checkpoint while it is written, the old one while the new one moves in.
const PARTIAL_SUFFIX = '.partial-';
const PREVIOUS_SUFFIX = '.previous-';

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  epoch: number;
  step: number;
  learningRate: number;
  randomState: number[];
  /** name -> shape of every tensor in the tensors file. */
  tensors: Record<string, number[]>;
  sha256: string;
  /** Anything the caller wants back on resume (data-loader seed, config, metrics so far). */
  extra: Record<string, unknown>;
}

function variablesOf(trainer: LocalTrainer): NamedVariable[] {
  return [...trainer.namedParameters(), ...trainer.namedBuffers()];
}

/**
 * Write every variable (backbone, heads, EMA twins), the momentum buffers, epoch, step and RNG
 * state to `dir`. Written to a temporary folder and renamed, so an interrupted save leaves the
 * previous checkpoint intact.
 */
export async function saveCheckpoint(
  dir: string,
  trainer: LocalTrainer,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const entries: [string, { dtype: 'F32' | 'I32'; shape: number[]; data: Float32Array | Int32Array }][] = [];
  const names = new Map<tf.Variable, string>();
  for (const [name, v] of variablesOf(trainer)) {
    names.set(v, name);
    entries.push([name, { dtype: v.dtype === 'int32' ? 'I32' : 'F32', shape: v.shape, data: (await v.data()) as Float32Array }]);
  }
  for (const [v, buffer] of trainer.optimizer.state()) {
    const name = names.get(v);
    if (!name) continue;
    entries.push([MOMENTUM_PREFIX + name, { dtype: 'F32', shape: buffer.shape, data: (await buffer.data()) as Float32Array }]);
  }
  const bytes = serializeSafetensors(entries);
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    epoch: trainer.epoch,
    step: trainer.stepCount,
    learningRate: trainer.learningRate,
    randomState: trainer.random.state,
    tensors: Object.fromEntries(entries.map(([n, t]) => [n, t.shape])),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    extra,
  };
  const temporary = `${dir}${PARTIAL_SUFFIX}${process.pid}`;
  await rm(temporary, { recursive: true, force: true });
  await mkdir(temporary, { recursive: true });
  await writeFile(join(temporary, TENSORS_FILE), bytes);
  await writeFile(join(temporary, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
  const previous = `${dir}${PREVIOUS_SUFFIX}${process.pid}`;
  let hadPrevious = false;
  try {
    await rename(dir, previous);
    hadPrevious = true;
  } catch {
    // No earlier checkpoint.
  }
  await rename(temporary, dir);
  if (hadPrevious) await rm(previous, { recursive: true, force: true });
}

/** Why `dir` holds no readable manifest, in the caller's words: a file, no such folder, or a folder without one. */
async function noManifest(dir: string): Promise<CheckpointError> {
  const found = await stat(dir).catch(() => undefined);
  if (found?.isFile()) {
    const folder = basename(dir) === MANIFEST_FILE || basename(dir) === TENSORS_FILE ? ` (the folder holding it is ${dirname(dir)})` : '';
    return new CheckpointError(
      `${dir} is a file, not a checkpoint folder: a checkpoint is the folder saveCheckpoint wrote, holding ${MANIFEST_FILE} and ${TENSORS_FILE}. Pass that folder${folder}.`,
    );
  }
  if (!found) return new CheckpointError(`No checkpoint at ${dir}: there is no such folder. Train with a checkpoint directory first, or point at the right folder.`);
  return new CheckpointError(`No checkpoint at ${dir}: ${MANIFEST_FILE} is missing. Train with a checkpoint directory first, or point at the right folder.`);
}

export async function readCheckpointManifest(dir: string): Promise<CheckpointManifest> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    throw await noManifest(dir);
  }
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new CorruptCheckpointError(dir, `${MANIFEST_FILE} is not valid JSON (${(e as Error).message})`);
  }
  if (manifest.format !== CHECKPOINT_FORMAT || manifest.version !== CHECKPOINT_VERSION) {
    throw new CorruptCheckpointError(dir, `it is not a version-${CHECKPOINT_VERSION} ${CHECKPOINT_FORMAT} (found format ${manifest.format}, version ${manifest.version})`);
  }
  return manifest;
}

/**
 * Restore a checkpoint into a trainer built with the same configuration. Everything is checked
 * (hash, names, shapes) before any variable is touched: a mismatch never loads partially.
 */
export async function loadCheckpoint(dir: string, trainer: LocalTrainer): Promise<CheckpointManifest> {
  const manifest = await readCheckpointManifest(dir);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(join(dir, TENSORS_FILE));
  } catch {
    throw new CorruptCheckpointError(dir, `${TENSORS_FILE} is missing, so the checkpoint is incomplete`);
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== manifest.sha256) {
    throw new CorruptCheckpointError(dir, `${TENSORS_FILE} does not match its recorded sha256 (corrupt or modified)`);
  }
  const tensors = parseSafetensors(bytes, join(dir, TENSORS_FILE));
  const variables = variablesOf(trainer);
  const problems: string[] = [];
  const expected = new Set<string>();
  for (const [name, v] of variables) {
    expected.add(name);
    const t = tensors.get(name);
    if (!t) problems.push(`missing '${name}'`);
    else if (!tf.util.arraysEqual(t.shape, v.shape)) problems.push(`'${name}' has shape [${t.shape}] but the model has [${v.shape}]`);
  }
  for (const name of tensors.keys()) {
    const base = name.startsWith(MOMENTUM_PREFIX) ? name.slice(MOMENTUM_PREFIX.length) : name;
    if (!expected.has(base)) problems.push(`unexpected '${name}'`);
  }
  if (problems.length) {
    throw new CheckpointError(
      `Checkpoint ${dir} does not match this model/plugin configuration (${problems.length} problem(s): ${problems.slice(0, 6).join('; ')}${problems.length > 6 ? '; ...' : ''}). Use the same network, K and plugins it was saved with.`,
    );
  }
  const byName = new Map(variables);
  for (const [name, raw] of tensors) {
    if (name.startsWith(MOMENTUM_PREFIX)) {
      const v = byName.get(name.slice(MOMENTUM_PREFIX.length))!;
      const buffer = tf.tensor(raw.data as Float32Array, raw.shape);
      trainer.optimizer.setState(v, buffer);
      buffer.dispose();
    } else {
      const v = byName.get(name)!;
      const value = tf.tensor(raw.data as Float32Array | Int32Array, raw.shape, v.dtype);
      v.assign(value);
      value.dispose();
    }
  }
  trainer.epoch = manifest.epoch;
  trainer.stepCount = manifest.step;
  trainer.learningRate = manifest.learningRate;
  const restored = new SeededRandom(manifest.randomState);
  trainer.random.restore(restored.state);
  return manifest;
}

/**
 * Repairs what a process killed in the middle of `saveCheckpoint` left beside `dir`. Killed while
 * writing, it left an unfinished `<dir>.partial-<pid>` (deleted here; `dir` is intact). Killed
 * between its two renames, it left no `dir` but the previous checkpoint in `<dir>.previous-<pid>`,
 * which is moved back, so that a resume loses only the steps since that checkpoint instead of the
 * whole run. Call it before resuming, while no other process saves into `dir`. Returns what it did:
 * `'restored'` (the previous checkpoint is back), or `'none'` (nothing to repair).
 */
export async function recoverCheckpoint(dir: string): Promise<'restored' | 'none'> {
  const parent = dirname(dir);
  const name = basename(dir);
  let entries: string[];
  try {
    entries = await readdir(parent);
  } catch {
    return 'none';
  }
  const leftovers = async (suffix: string) => {
    const found: { path: string; modified: number }[] = [];
    for (const entry of entries.filter((e) => e.startsWith(name + suffix))) {
      const path = join(parent, entry);
      found.push({ path, modified: (await stat(path)).mtimeMs });
    }
    return found.sort((a, b) => b.modified - a.modified);
  };
  for (const partial of await leftovers(PARTIAL_SUFFIX)) await rm(partial.path, { recursive: true, force: true });
  const previous = await leftovers(PREVIOUS_SUFFIX);
  let outcome: 'restored' | 'none' = 'none';
  if (previous.length > 0 && !entries.includes(name)) {
    await rename(previous.shift()!.path, dir);
    outcome = 'restored';
  }
  for (const stale of previous) await rm(stale.path, { recursive: true, force: true });
  return outcome;
}
