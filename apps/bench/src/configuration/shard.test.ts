import { describe, expect, it } from 'vitest';
import { runCli } from '../testing.js';
import { configId } from './configuration-id.js';
import { expandGrid } from './grid.js';
import { resolveSettings } from './resolve-settings.js';
import { parseShard, selectShard, shardOfEach } from './shard.js';

describe('--shard i/n', () => {
  it('reads i/n and refuses what is not a slice', () => {
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    expect(parseShard(' 1 / 1 ')).toEqual({ index: 1, count: 1 });
    expect(parseShard('0/4')).toMatch(/between 1 and 4, got 0/);
    expect(parseShard('5/4')).toMatch(/between 1 and 4, got 5/);
    expect(parseShard('1/0')).toMatch(/at least 1/);
    expect(parseShard('two')).toMatch(/Expected i\/n, e\.g\. 2\/4/);
  });

  // The mini preset: its own 7 rows × seeds 0 and 1.
  const mini = expandGrid(resolveSettings('mini', {}));

  it('deals the configurations sorted by id out in turn: every one in exactly one shard, sizes within one', () => {
    expect(mini).toHaveLength(14);
    const sorted = mini.map(configId).sort();
    for (const count of [1, 2, 3, 4, 5, 14, 20]) {
      const shards = Array.from({ length: count }, (_, i) => selectShard(mini, { index: i + 1, count }).map(configId));
      expect(shards.flat().sort()).toEqual(sorted);
      const sizes = shards.map((shard) => shard.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      // Shard i holds the sorted positions i-1, i-1+n, i-1+2n, ...
      shards.forEach((shard, i) => expect([...shard].sort()).toEqual(sorted.filter((_, position) => position % count === i)));
    }
    // As many shards as configurations: one each (a Slurm array task per configuration).
    expect(Array.from({ length: 14 }, (_, i) => selectShard(mini, { index: i + 1, count: 14 }).length)).toEqual(Array(14).fill(1));
  });

  it('keeps the grid order inside a shard (seed 0 of every row first) and does not depend on the order options list things in', () => {
    const shard = selectShard(mini, { index: 1, count: 3 });
    const positions = shard.map((config) => mini.indexOf(config));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    const one = expandGrid(resolveSettings(undefined, { frameworks: ['e2e', 'dgl'], pluginSets: ['none', 'mlm'], Ks: [2, 4], seeds: [0, 1] }));
    const other = expandGrid(resolveSettings(undefined, { frameworks: ['dgl', 'e2e'], pluginSets: ['mlm', 'none'], Ks: [4, 2], seeds: [1, 0] }));
    expect(shardOfEach(one, 3)).toEqual(shardOfEach(other, 3));
  });

  it('is refused on the command line when it is no slice', async () => {
    const { code, stderr } = await runCli(['ablation', '--shard', '5/4']);
    expect(stderr).toMatch(/--shard <i\/n>' argument '5\/4' is invalid\. The shard number must be between 1 and 4, got 5\./);
    expect(code).toBe(2);
  });
});
