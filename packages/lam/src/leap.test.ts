import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backbone, BALANCED_SPLITS, getSplit, MlaanError, partition, perBlockCuts, SPLITS } from '@mlaan/core';
import { resnet101, resnet110, resnet32, resnet34 } from '@mlaan/models';
import { findLeapTable, IMAGENET_LEAP_TABLES, LamError, LEAP_TABLES, LeapBlock, leapBlocksFor, leapRule, resolveLeapBlocks } from './index.js';

let nets: Record<string, Backbone>;

beforeAll(async () => {
  await tf.setBackend('cpu');
  nets = { resnet32: resnet32(), resnet110: resnet110(), resnet34: resnet34(), resnet101: resnet101() };
});

afterAll(() => {
  for (const net of Object.values(nets)) net.dispose();
});

// METHOD §5, written out as the method text gives them (stage, block).
const METHOD_K8: Record<number, LeapBlock[]> = {
  1: [[2, 0], [3, 0], [3, 2], [3, 4]],
  2: [[2, 0], [3, 0], [3, 3], [3, 4]],
  3: [[3, 0], [3, 2], [3, 3], [3, 4]],
  4: [[3, 0], [3, 2], [3, 3], [3, 4]],
  5: [[3, 2], [3, 3], [3, 4]],
  6: [[3, 3], [3, 4]],
};
const METHOD_PER_BLOCK: Record<number, LeapBlock[]> = {};
for (const i of [0, 1, 3]) METHOD_PER_BLOCK[i] = [[2, 0], [3, 0], [3, 2], [3, 4]];
for (const i of [2, 4]) METHOD_PER_BLOCK[i] = [[2, 0], [3, 0], [3, 3], [3, 4]];
for (const i of [5, 6, 7, 8, 9]) METHOD_PER_BLOCK[i] = [[3, 0], [3, 2], [3, 3], [3, 4]];
METHOD_PER_BLOCK[10] = [[3, 1], [3, 2], [3, 4]];
METHOD_PER_BLOCK[11] = [[3, 2], [3, 3], [3, 4]];
METHOD_PER_BLOCK[12] = [[3, 3], [3, 4]];
METHOD_PER_BLOCK[13] = [[3, 4]];

describe('leap tables', () => {
  it('reproduce METHOD §5 for ResNet-32, K = 8', () => {
    const modules = partition(nets.resnet32!, getSplit({ net: 'resnet32', K: 8 }));
    expect(findLeapTable(nets.resnet32!, modules)?.source).toMatch(/K=8/);
    for (const [i, list] of Object.entries(METHOD_K8)) expect(leapBlocksFor(nets.resnet32!, modules, Number(i))).toEqual(list);
    expect(leapBlocksFor(nets.resnet32!, modules, 7)).toEqual([]);
  });

  it('reproduce METHOD §5 for ResNet-32, one block per module', () => {
    const modules = partition(nets.resnet32!, getSplit({ net: 'resnet32', K: 'per-block' }));
    expect(modules).toHaveLength(15);
    for (const [i, list] of Object.entries(METHOD_PER_BLOCK)) expect(leapBlocksFor(nets.resnet32!, modules, Number(i))).toEqual(list);
  });

  it('every table entry is a valid chain ending at the last block', () => {
    // The ImageNet lists do not all end at the last block: imagenet-leap-tables.test.ts.
    for (const table of LEAP_TABLES.filter((entry) => !IMAGENET_LEAP_TABLES.includes(entry))) {
      const backbone = nets[table.net]!;
      const modules = partition(backbone, table.cuts);
      expect(table.lists).toHaveLength(modules.length - 1);
      expect(findLeapTable(backbone, modules)).toBe(table);
      table.lists.forEach((list, i) => {
        const blocks = resolveLeapBlocks(backbone, modules[i]!, list);
        expect(blocks[blocks.length - 1]).toBe(backbone.blocks[backbone.blocks.length - 1]);
      });
    }
  });
});

describe('leap rule', () => {
  it('agrees with the ResNet-32 tables except where the authors are irregular', () => {
    const mismatches: string[] = [];
    for (const table of LEAP_TABLES.filter((t) => t.net === 'resnet32')) {
      const modules = partition(nets.resnet32!, table.cuts);
      table.lists.forEach((list, i) => {
        if (JSON.stringify(leapRule(nets.resnet32!, modules, i)) !== JSON.stringify(list)) mismatches.push(`${table.source} module ${i}`);
      });
    }
    // Modules 2 and 4 (stage 1) take (3,3) where their neighbours take (3,2); a module ending at
    // (3,0) gets (3,2)(3,3)(3,4) at K = 8 but (3,1)(3,2)(3,4) one-block-per-module.
    expect(mismatches).toEqual([
      'METHOD §5, ResNet-32 K=8 module 2',
      'METHOD §5, ResNet-32 one block per module module 2',
      'METHOD §5, ResNet-32 one block per module module 4',
      'METHOD §5, ResNet-32 one block per module module 10',
    ]);
  });

  const cases: [string, (number | 'per-block')[], string?][] = [
    ['resnet32', [2, 3, 4, 8, 16, 'per-block']],
    ['resnet110', [2, 3, 4, 8, 16, 'per-block']],
    ['resnet34', ['per-block']],
    ['resnet101', ['per-block']],
  ];

  it.each(cases)('%s: a sensible list for every module of every split', (net, ks) => {
    const backbone = nets[net]!;
    const sequence = backbone.sequence;
    const lastBlock = sequence[sequence.length - 1]!;
    const splits = ks.map((K) => getSplit({ net, K }));
    for (const cuts of Object.values(BALANCED_SPLITS[net] ?? {})) splits.push(cuts.map((c) => [c[0], c[1]] as const));
    // Evenly spread splits too (ImageNet ResNets have no published table but per-block).
    const all = perBlockCuts(backbone.stageDepths);
    for (const K of [2, 4, 8, 16]) {
      if (K - 1 > all.length) continue;
      splits.push(Array.from({ length: K - 1 }, (_, j) => all[Math.floor(((j + 1) * (all.length + 1)) / K) - 1]!));
    }
    for (const cuts of splits) {
      const modules = partition(backbone, cuts);
      for (const module of modules.slice(0, -1)) {
        const list = leapRule(backbone, modules, module.index);
        const blocks = resolveLeapBlocks(backbone, module, list);
        const positions = blocks.map((b) => sequence.indexOf(b));
        expect(blocks[blocks.length - 1], `${net} module ${module.index}`).toBe(lastBlock);
        expect(positions[0]!).toBeGreaterThan(sequence.indexOf(module.last));
        for (let j = 1; j < positions.length; j++) expect(positions[j]!).toBeGreaterThan(positions[j - 1]!);
        // At most 4 deep, unless the stage entries alone need more (bottleneck stem modules).
        const entries = blocks.filter((b) => b.index === 0 && b.stage > module.last.stage).length;
        expect(blocks.length).toBeLessThanOrEqual(Math.max(4, entries + 1));
        // Deep modules leap less: a last-stage module uses at most 3 blocks.
        if (module.last.stage === lastBlock.stage) expect(blocks.length).toBeLessThanOrEqual(3);
      }
    }
  });

  it('spreads ResNet-110 samples over the last stage (AugLocal, rounded up)', () => {
    const modules = partition(nets.resnet110!, getSplit({ net: 'resnet110', K: 4 }));
    expect(leapRule(nets.resnet110!, modules, 0)).toEqual([[2, 0], [3, 0], [3, 9], [3, 17]]);
    expect(leapRule(nets.resnet110!, modules, 1)).toEqual([[3, 0], [3, 6], [3, 12], [3, 17]]);
    expect(leapRule(nets.resnet110!, modules, 2)).toEqual([[3, 8], [3, 13], [3, 17]]);
    const perBlock = partition(nets.resnet110!, getSplit({ net: 'resnet110', K: 'per-block' }));
    expect(leapBlocksFor(nets.resnet110!, perBlock, 0)).toEqual([[2, 0], [3, 0], [3, 2], [3, 17]]); // table
    expect(leapBlocksFor(nets.resnet110!, perBlock, 0, { ruleOnly: true })).toEqual([[2, 0], [3, 0], [3, 9], [3, 17]]);
  });

  it('ImageNet: a stem-only module of a bottleneck net needs the first stage (5 deep)', () => {
    const modules = partition(nets.resnet101!, [[0, 0]]);
    expect(leapRule(nets.resnet101!, modules, 0)).toEqual([[1, 0], [2, 0], [3, 0], [4, 0], [4, 2]]);
    const basic = partition(nets.resnet34!, [[0, 0]]);
    expect(leapRule(nets.resnet34!, basic, 0)).toEqual([[2, 0], [3, 0], [4, 0], [4, 2]]);
  });

  it('covers every K of the split tables', () => {
    for (const [net, table] of Object.entries(SPLITS)) {
      for (const K of Object.keys(table).map(Number)) {
        const modules = partition(nets[net]!, getSplit({ net, K }));
        for (const module of modules.slice(0, -1)) expect(leapBlocksFor(nets[net]!, modules, module.index).length).toBeGreaterThan(0);
      }
    }
  });
});

describe('leap list validation', () => {
  it('names a block that does not exist', () => {
    const modules = partition(nets.resnet32!, getSplit({ net: 'resnet32', K: 4 }));
    const call = () => resolveLeapBlocks(nets.resnet32!, modules[1]!, [[3, 0], [3, 7]]);
    expect(call).toThrow(LamError);
    expect(call).toThrow(MlaanError);
    expect(call).toThrow(/names block \[3, 7\], which does not exist in resnet32 \(stage 0 is the stem \[0, 0\]; stage 1: blocks 0-4/);
  });

  it('a chain whose shapes do not fit', () => {
    const modules = partition(nets.resnet32!, getSplit({ net: 'resnet32', K: 4 }));
    expect(() => resolveLeapBlocks(nets.resnet32!, modules[0]!, [[3, 0]])).toThrow(
      /block \[3, 0\] takes 32 channels at stride 2, but module 0's output has 16 channels at stride 1/,
    );
    expect(() => resolveLeapBlocks(nets.resnet32!, modules[0]!, [[2, 0], [3, 1]])).toThrow(/block \[3, 1\] takes 64 channels/);
    expect(() => resolveLeapBlocks(nets.resnet32!, modules[0]!, [])).toThrow(/is empty/);
  });
});

describe('ImageNet leap lists (the authors’ configAux_new.py)', () => {
  it('serve the per-block partitions of ResNet-34 (K = 16) and ResNet-101 (33 modules)', () => {
    for (const [net, modules] of [['resnet34', 16], ['resnet101', 33]] as const) {
      const backbone = nets[net]!;
      const partitioned = partition(backbone, getSplit({ net, K: 'per-block' }));
      expect(partitioned).toHaveLength(modules);
      const table = IMAGENET_LEAP_TABLES.find((entry) => entry.net === net)!;
      expect(LEAP_TABLES).toContain(table);
      expect(table.lists).toHaveLength(modules - 1);
      // Every list is a chain whose shapes fit the module's output, and is what the trainer gets.
      table.lists.forEach((list, i) => {
        expect(resolveLeapBlocks(backbone, partitioned[i]!, list).length).toBe(list.length);
        expect(leapBlocksFor(backbone, partitioned, i)).toEqual(list);
      });
      expect(leapBlocksFor(backbone, partitioned, modules - 1)).toEqual([]);
    }
  });

  it('keep the authors’ irregular lists as written', () => {
    const backbone = nets.resnet34!;
    const modules = partition(backbone, getSplit({ net: 'resnet34', K: 'per-block' }));
    // Stage 1: five blocks deep; stage 3: stops at (4,1); module 13 copies (4,1) twice.
    expect(leapBlocksFor(backbone, modules, 0)).toEqual([[2, 0], [2, 1], [3, 0], [4, 0], [4, 2]]);
    expect(leapBlocksFor(backbone, modules, 3)).toEqual([[2, 1], [3, 0], [4, 0], [4, 2]]);
    expect(leapBlocksFor(backbone, modules, 12)).toEqual([[3, 1], [4, 0], [4, 1]]);
    const twice = resolveLeapBlocks(backbone, modules[13]!, leapBlocksFor(backbone, modules, 13));
    expect(twice[0]).toBe(twice[1]);
    expect(leapBlocksFor(backbone, modules, 14)).toEqual([[4, 1], [4, 2]]);
    const deep = partition(nets.resnet101!, getSplit({ net: 'resnet101', K: 'per-block' }));
    expect(leapBlocksFor(nets.resnet101!, deep, 7)).toEqual([[4, 0], [4, 1]]);
    expect(leapBlocksFor(nets.resnet101!, deep, 29)).toEqual([[4, 0], [4, 1]]);
    expect(leapBlocksFor(nets.resnet101!, deep, 30)).toEqual([[4, 1], [4, 2]]);
  });
});
