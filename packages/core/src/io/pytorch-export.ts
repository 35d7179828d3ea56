import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { NamedVariable } from '../layers/layer.js';
import { serializeSafetensors, type SerializableTensor } from './safetensors.js';
import { exportOptions, writeOptions } from './weight-file-options.js';

/** PyTorch's BatchNorm buffer that counts training steps; a state dict always has one per BN. */
export const BATCH_NORM_COUNTER = 'num_batches_tracked';
const RUNNING_MEAN = 'running_mean';

export interface PyTorchExportOptions {
  /**
   * Value written to every BatchNorm's `num_batches_tracked` (default 0). PyTorch only reads it
   * when a BatchNorm has `momentum=None` (cumulative averaging); this library does not count.
   */
  batchesTracked?: number;
}

/** This library's layout to PyTorch's: conv HWIO -> OIHW, linear [in, out] -> [out, in]. */
function toPyTorchLayout(data: Float32Array | Int32Array, shape: readonly number[]): { data: Float32Array | Int32Array; shape: number[] } {
  if (shape.length === 4) {
    const [h, w, i, o] = shape as [number, number, number, number];
    const out = new (data.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(data.length);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < i; c++)
          for (let f = 0; f < o; f++) out[((f * i + c) * h + y) * w + x] = data[((y * w + x) * i + c) * o + f]!;
    return { data: out, shape: [o, i, h, w] };
  }
  if (shape.length === 2) {
    const [rows, columns] = shape as [number, number];
    const out = new (data.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(data.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = data[r * columns + c]!;
    return { data: out, shape: [columns, rows] };
  }
  return { data, shape: [...shape] };
}

/**
 * The inverse of `importPyTorchWeights`: the named variables as a PyTorch state dict (same names,
 * conv weights OIHW, linear weights [out, in]), plus the `num_batches_tracked` counter PyTorch
 * keeps beside every BatchNorm's `running_mean`, so that `load_state_dict(strict=True)` accepts it.
 */
export async function exportPyTorchWeights(
  variables: readonly NamedVariable[],
  options: PyTorchExportOptions = {},
): Promise<Map<string, SerializableTensor>> {
  const { batchesTracked } = exportOptions.resolve(options);
  const out = new Map<string, SerializableTensor>();
  for (const [name, variable] of variables) {
    const values = (await variable.data()) as Float32Array | Int32Array;
    const { data, shape } = toPyTorchLayout(values, variable.shape);
    out.set(name, variable.dtype === 'int32' ? { dtype: 'I32', shape, data: data as Int32Array } : { dtype: 'F32', shape, data: data as Float32Array });
    if (name === RUNNING_MEAN || name.endsWith(`.${RUNNING_MEAN}`)) {
      const counter = name.slice(0, name.length - RUNNING_MEAN.length) + BATCH_NORM_COUNTER;
      out.set(counter, { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(batchesTracked)) });
    }
  }
  return out;
}

/**
 * Write the named variables (e.g. `backbone.namedVariables()`) as a safetensors file that PyTorch
 * loads into the same architecture: `model.load_state_dict(safetensors.torch.load_file(path))`.
 * Creates the file's folder when it does not exist (as `writeLayersModel` does).
 */
export async function writePyTorchSafetensors(
  path: string,
  variables: readonly NamedVariable[],
  options: PyTorchExportOptions & { metadata?: Record<string, string> } = {},
): Promise<void> {
  const { batchesTracked, metadata } = writeOptions.resolve(options);
  const tensors = await exportPyTorchWeights(variables, { batchesTracked });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, serializeSafetensors(tensors, { format: 'pt', ...metadata }));
}
