import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname } from 'node:path';

/** The machine a benchmark ran on, for its results file; `extra` adds benchmark-specific facts. */
export function describeMachine(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    platform: `${platform()} ${release()}`,
    node: process.version,
    tfjs: tf.version_core,
    ...extra,
    date: new Date().toISOString(),
  };
}

/** Write a results file (JSON, folders created) and say where. */
export function writeResults(path: string, results: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(results, null, 2));
  console.log(`wrote ${path}`);
}
