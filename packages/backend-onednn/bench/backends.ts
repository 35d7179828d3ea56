// Backend set-up shared by the benchmarks: onednn (this package), the pure-JS cpu backend, and
// tfjs's wasm backend (SIMD, single-threaded in Node).
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import * as tf from '@tensorflow/tfjs-core';

import { register } from '../src/index.js';

export type BackendName = 'onednn' | 'cpu' | 'wasm';

export async function useBackend(name: BackendName, threads: number): Promise<void> {
  if (name === 'onednn') {
    const poolMiB = process.env.ONEDNN_BUFFER_POOL_MIB;
    await register({ threads, ...(poolMiB ? { bufferPoolBytes: Number(poolMiB) * 1024 * 1024 } : {}) });
  }
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
  }
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise`);
  await tf.ready();
}

export function parseArguments(defaults: Record<string, string>): Record<string, string> {
  const values = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; ++i) {
    const argument = argv[i]!;
    if (!argument.startsWith('--')) throw new Error(`unexpected argument ${argument}`);
    const [key, inline] = argument.slice(2).split('=', 2) as [string, string | undefined];
    if (!(key in values)) throw new Error(`unknown option --${key}; known: ${Object.keys(values).join(', ')}`);
    values[key] = inline ?? argv[++i] ?? '';
  }
  return values;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function peakResidentMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
