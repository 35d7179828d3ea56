import * as tf from '@tensorflow/tfjs-core';
import { readFile, writeFile } from 'node:fs/promises';
import { SafetensorsError } from '../errors.js';
import type { NamedVariable } from '../layers/layer.js';
import { importOptions } from './weight-file-options.js';

export type SafetensorsDtype = 'F32' | 'I32' | 'I64' | 'F64' | 'U8';

export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Float32 or Int32 data (I64/F64 are narrowed on read). */
  data: Float32Array | Int32Array | Uint8Array;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, I32: 4, I64: 8, F64: 8, U8: 1 };

/**
 * Parse safetensors bytes: an 8-byte little-endian header length, a JSON header mapping names to
 * {dtype, shape, data_offsets}, then raw little-endian data.
 */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors data'): Map<string, RawTensor> {
  if (bytes.byteLength < 8) throw new SafetensorsError(`${source}: file is ${bytes.byteLength} bytes, too short for a safetensors header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8) {
    throw new SafetensorsError(`${source}: header claims ${headerLength} bytes but the file has ${bytes.byteLength - 8} after the length field (truncated?)`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (e) {
    throw new SafetensorsError(`${source}: header is not valid JSON (${(e as Error).message})`);
  }
  const base = 8 + headerLength;
  const out = new Map<string, RawTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES)) throw new SafetensorsError(`${source}: tensor '${name}' has unsupported dtype ${dtype}`);
    const d = dtype as SafetensorsDtype;
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = data_offsets;
    if (end - begin !== count * BYTES[d] || base + end > bytes.byteLength) {
      throw new SafetensorsError(
        `${source}: tensor '${name}' (${d} [${shape.join(', ')}]) needs ${count * BYTES[d]} bytes at ${begin}..${end}, file data has ${bytes.byteLength - base}`,
      );
    }
    // Copy (Buffer#slice is a view) so the typed arrays below own aligned memory.
    const slice = new Uint8Array(bytes.subarray(base + begin, base + end));
    const dv = new DataView(slice.buffer);
    let data: Float32Array | Int32Array | Uint8Array;
    switch (d) {
      case 'F32':
        data = new Float32Array(slice.buffer);
        break;
      case 'I32':
        data = new Int32Array(slice.buffer);
        break;
      case 'U8':
        data = slice;
        break;
      case 'F64':
        data = Float32Array.from({ length: count }, (_, i) => dv.getFloat64(i * 8, true));
        break;
      case 'I64':
        data = Int32Array.from({ length: count }, (_, i) => Number(dv.getBigInt64(i * 8, true)));
        break;
    }
    out.set(name, { dtype: d, shape, data });
  }
  return out;
}

export async function readSafetensors(path: string): Promise<Map<string, RawTensor>> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SafetensorsError(`Cannot read safetensors file ${path}: ${(e as Error).message}`);
  }
  return parseSafetensors(bytes, path);
}

/** A tensor to write: float32, int32, or int64 (PyTorch's integer buffers, e.g. `num_batches_tracked`). */
export interface SerializableTensor {
  dtype: 'F32' | 'I32' | 'I64';
  shape: readonly number[];
  data: Float32Array | Int32Array | BigInt64Array;
}

/** Serialise tensors to safetensors bytes (little-endian), names in the given order. */
export function serializeSafetensors(
  tensors: Iterable<readonly [string, SerializableTensor]>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) {
    throw new SafetensorsError('serializeSafetensors needs a little-endian platform (the format is little-endian)');
  }
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.BYTES_PER_ELEMENT !== BYTES[t.dtype] || t.data.length !== count) {
      throw new SafetensorsError(
        `Tensor '${name}': ${t.dtype} [${t.shape.join(', ')}] needs ${count} values of ${BYTES[t.dtype]} bytes, got ${t.data.length} of ${t.data.BYTES_PER_ELEMENT}`,
      );
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // The format asks for an 8-byte aligned data section; pad the header with spaces.
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let p = 8 + headerBytes.byteLength;
  for (const c of chunks) {
    out.set(c, p);
    p += c.byteLength;
  }
  return out;
}

export async function writeSafetensors(path: string, variables: readonly NamedVariable[]): Promise<void> {
  const entries: [string, SerializableTensor][] = [];
  for (const [name, v] of variables) {
    const data = await v.data();
    entries.push([name, v.dtype === 'int32' ? { dtype: 'I32', shape: v.shape, data: data as Int32Array } : { dtype: 'F32', shape: v.shape, data: data as Float32Array }]);
  }
  await writeFile(path, serializeSafetensors(entries));
}

/** A tensor from a raw entry, in PyTorch layout (no transposition). */
export function rawToTensor(raw: RawTensor): tf.Tensor {
  return raw.dtype === 'I32' || raw.dtype === 'I64'
    ? tf.tensor(raw.data as Int32Array, raw.shape, 'int32')
    : tf.tensor(raw.data instanceof Uint8Array ? Float32Array.from(raw.data) : raw.data, raw.shape, 'float32');
}

/**
 * Convert a PyTorch-layout tensor to this library's layout for a target of `targetShape`:
 * conv OIHW -> HWIO, linear [out, in] -> [in, out]; vectors unchanged.
 */
export function fromPyTorchLayout(raw: RawTensor, targetShape: readonly number[], name: string): tf.Tensor {
  return tf.tidy(() => {
    const t = rawToTensor(raw);
    let converted: tf.Tensor = t;
    if (raw.shape.length === 4) converted = tf.transpose(t, [2, 3, 1, 0]);
    else if (raw.shape.length === 2) converted = tf.transpose(t, [1, 0]);
    if (!tf.util.arraysEqual(converted.shape, [...targetShape])) {
      throw new SafetensorsError(
        `Tensor '${name}' has PyTorch shape [${raw.shape.join(', ')}] → [${converted.shape.join(', ')}] here, but the target variable is [${targetShape.join(', ')}].`,
      );
    }
    return converted;
  });
}

export interface ImportOptions {
  /** Map a variable name to the name in the file (default: identity). */
  rename?: (name: string) => string;
  /** Allow tensors in the file that no variable takes (default false). */
  allowUnused?: boolean;
  /** Allow variables the file has no tensor for (default false). */
  allowMissing?: boolean;
}

/**
 * Assign PyTorch weights (names and layouts) to named variables. Missing or unexpected names and
 * shape mismatches fail before anything is assigned, so a bad file never half-loads.
 */
export function importPyTorchWeights(
  variables: readonly NamedVariable[],
  tensors: ReadonlyMap<string, RawTensor>,
  given: ImportOptions = {},
): { assigned: string[] } {
  const options = importOptions.resolve(given);
  const rename = options.rename ?? ((n: string) => n);
  const missing: string[] = [];
  const plan: [tf.Variable, string, RawTensor][] = [];
  const used = new Set<string>();
  for (const [name, v] of variables) {
    const key = rename(name);
    const raw = tensors.get(key);
    if (!raw) {
      missing.push(key);
      continue;
    }
    used.add(key);
    plan.push([v, key, raw]);
  }
  // PyTorch state dicts carry a step counter beside every BatchNorm's running statistics; this
  // library has no such variable and nothing to put it in, so it is not an "unused" tensor.
  const counters = new Set(
    [...used].filter((k) => k.endsWith('.running_mean') || k === 'running_mean').map((k) => k.replace(/running_mean$/, 'num_batches_tracked')),
  );
  const unused = [...tensors.keys()].filter((k) => !used.has(k) && !counters.has(k));
  if (missing.length && !options.allowMissing) {
    throw new SafetensorsError(`Missing ${missing.length} tensor(s) in the weights file: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}`);
  }
  if (unused.length && !options.allowUnused) {
    throw new SafetensorsError(`The weights file has ${unused.length} tensor(s) no variable takes: ${unused.slice(0, 8).join(', ')}${unused.length > 8 ? ', ...' : ''}`);
  }
  const converted = plan.map(([v, key, raw]) => [v, fromPyTorchLayout(raw, v.shape, key)] as const);
  for (const [v, t] of converted) {
    v.assign(t.dtype === v.dtype ? t : tf.cast(t, v.dtype));
    t.dispose();
  }
  return { assigned: plan.map(([, k]) => k) };
}
