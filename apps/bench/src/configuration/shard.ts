import { configId } from './configuration-id.js';
import type { RunConfig } from './settings.js';

/** `--shard i/n`: the i-th of n slices of a grid (1-based, as Jest's and Playwright's `--shard`). */
export interface Shard {
  index: number;
  count: number;
}

/** Why `text` is not a shard, or the shard it names. */
export function parseShard(text: string): Shard | string {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!match) return `Expected i/n, e.g. 2/4 (the second of four slices), got '${text}'.`;
  const [index, count] = [Number(match[1]), Number(match[2])];
  if (count < 1) return `The number of shards must be at least 1, got ${count}.`;
  if (index < 1 || index > count) return `The shard number must be between 1 and ${count}, got ${index}.`;
  return { index, count };
}

/**
 * Which shard trains each configuration: the grid's configurations sorted by id, dealt out in
 * turn (position p goes to shard p mod n + 1). Every shard computes the same assignment from the
 * same command line without talking to the others, whatever order the command lists its
 * frameworks, plugin sets or seeds in; the shards' sizes differ by at most one, so a Slurm array
 * of as many tasks as configurations gives each task exactly one.
 */
export function shardOfEach(configs: readonly RunConfig[], count: number): Map<string, number> {
  const ids = [...new Set(configs.map(configId))].sort();
  return new Map(ids.map((id, position) => [id, (position % count) + 1]));
}

/** The configurations of `shard`, in the grid's own order (seed 0 of every row before seed 1). */
export function selectShard(configs: readonly RunConfig[], shard: Shard): RunConfig[] {
  const owner = shardOfEach(configs, shard.count);
  return configs.filter((config) => owner.get(configId(config)) === shard.index);
}
