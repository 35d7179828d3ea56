import { SafetensorsError } from '../errors.js';
import { defineOptions, option } from '../training/define-plugin.js';

/*
 * The options of the PyTorch weight-file functions as the plugins' option rules: an unknown key
 * (`batchTracked`) or a bad value is a SafetensorsError naming the call and the option, before
 * anything is read or written.
 */

const metadata = option.custom<Record<string, string>>((value) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `must be an object of strings; got ${String(value)}`;
  const bad = Object.entries(value).filter(([, entry]) => typeof entry !== 'string');
  return bad.length === 0 ? undefined : `must map names to strings (safetensors metadata); ${bad.map(([key]) => `'${key}'`).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not`;
});

const batchesTracked = option.integer({ min: 0, meaning: "every BatchNorm's num_batches_tracked" }, 0);

export const exportOptions = defineOptions({
  call: 'exportPyTorchWeights()',
  error: SafetensorsError,
  rules: { batchesTracked },
});

export const writeOptions = defineOptions({
  call: 'writePyTorchSafetensors()',
  error: SafetensorsError,
  rules: { batchesTracked, metadata: option.optional(metadata) },
});

export const importOptions = defineOptions({
  call: 'importPyTorchWeights()',
  error: SafetensorsError,
  rules: {
    rename: option.optional(
      option.custom<(name: string) => string>((value) => (typeof value === 'function' ? undefined : `must be a function from a variable name to the name in the file; got ${String(value)}`)),
    ),
    allowUnused: option.boolean(false),
    allowMissing: option.boolean(false),
  },
});
