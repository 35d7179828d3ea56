import { Backbone, BackboneBlock, ConfigError, LocalModule, perBlockCuts } from '@mlaan/core';
import { IMAGENET_LEAP_TABLES } from './imagenet-leap-tables.js';
import type { LeapBlock, LeapTable } from './leap-table.js';

/** Bad LAM options or leap lists, or leap lists that do not fit the backbone they meet. */
export class LamError extends ConfigError {}

const r32StageOneA: LeapBlock[] = [[2, 0], [3, 0], [3, 2], [3, 4]];
const r32StageOneB: LeapBlock[] = [[2, 0], [3, 0], [3, 3], [3, 4]];
const r32StageTwo: LeapBlock[] = [[3, 0], [3, 2], [3, 3], [3, 4]];
const r110StageOne: LeapBlock[] = [[2, 0], [3, 0], [3, 2], [3, 17]];
const r110StageTwo: LeapBlock[] = [[3, 0], [3, 2], [3, 3], [3, 17]];
const r110StageTwoEnd: LeapBlock[] = [[3, 0], [3, 3], [3, 4], [3, 17]];
const repeat = (list: LeapBlock[], times: number) => Array.from({ length: times }, () => list);

/**
 * METHOD §5 (ResNet-32, K = 8 and one block per module) and the ResNet-110 lists of the same
 * configuration file (`CIFAR-SVHN-STL/networks/configAuxPlus_new.py`, one block per module and its
 * 32-module split). Module 0 of ResNet-32 K = 8 is not in METHOD's list (the reference never
 * trains it through a LAM); the configuration file gives it the stage-1 list, as the rule does.
 */
export const LEAP_TABLES: readonly LeapTable[] = [
  {
    net: 'resnet32',
    cuts: [[1, 0], [1, 2], [1, 4], [2, 1], [2, 3], [3, 0], [3, 2]],
    lists: [r32StageOneA, r32StageOneA, r32StageOneB, r32StageTwo, r32StageTwo, [[3, 2], [3, 3], [3, 4]], [[3, 3], [3, 4]]],
    source: 'METHOD §5, ResNet-32 K=8',
  },
  {
    net: 'resnet32',
    cuts: perBlockCuts([5, 5, 5]),
    lists: [
      r32StageOneA,
      r32StageOneA,
      r32StageOneB,
      r32StageOneA,
      r32StageOneB,
      ...repeat(r32StageTwo, 5),
      [[3, 1], [3, 2], [3, 4]],
      [[3, 2], [3, 3], [3, 4]],
      [[3, 3], [3, 4]],
      [[3, 4]],
    ],
    source: 'METHOD §5, ResNet-32 one block per module',
  },
  {
    net: 'resnet110',
    cuts: perBlockCuts([18, 18, 18]),
    lists: [
      ...repeat(r110StageOne, 18),
      ...repeat(r110StageTwo, 17),
      r110StageTwoEnd,
      ...repeat([[3, 8], [3, 17]], 7),
      ...repeat([[3, 14], [3, 17]], 4),
      ...repeat([[3, 15], [3, 17]], 2),
      ...repeat([[3, 16], [3, 17]], 3),
      [[3, 17]],
    ],
    source: 'MLAAN configAuxPlus_new.py, ResNet-110 one block per module',
  },
  {
    net: 'resnet110',
    cuts: [
      [1, 1], [1, 2], [1, 4], [1, 5], [1, 7], [1, 9], [1, 11], [1, 13], [1, 14], [1, 16], [1, 17],
      [2, 1], [2, 2], [2, 4], [2, 5], [2, 7], [2, 9], [2, 11], [2, 13], [2, 14], [2, 16], [2, 17],
      [3, 1], [3, 3], [3, 4], [3, 6], [3, 7], [3, 9], [3, 11], [3, 13], [3, 15],
    ],
    lists: [
      ...repeat(r110StageOne, 11),
      ...repeat(r110StageTwo, 10),
      r110StageTwoEnd,
      ...repeat([[3, 8], [3, 17]], 4),
      ...repeat([[3, 14], [3, 17]], 2),
      [[3, 15], [3, 17]],
      [[3, 16], [3, 17]],
      [[3, 17]],
    ],
    source: 'MLAAN configAuxPlus_new.py, ResNet-110 K=32',
  },
  // ResNet-34 and ResNet-101 on ImageNet: imagenet-leap-tables.ts.
  ...IMAGENET_LEAP_TABLES,
];

function sameBlock(a: BackboneBlock, stage: number, index: number): boolean {
  return a.stage === stage && a.index === index;
}

/** The table whose network and cut points match this partition, if any. */
export function findLeapTable(backbone: Backbone, modules: readonly LocalModule[]): LeapTable | undefined {
  return LEAP_TABLES.find(
    (table) =>
      table.net === backbone.id &&
      table.cuts.length === modules.length - 1 &&
      table.cuts.every((cut, i) => sameBlock(modules[i]!.last, cut[0], cut[1])),
  );
}

/** Downsampling of a block's input relative to the network input (the previous block's output). */
function inputStride(backbone: Backbone, position: number): number {
  return position === 0 ? 1 : backbone.sequence[position - 1]!.outputStride;
}

function accepts(backbone: Backbone, position: number, channels: number, stride: number): boolean {
  const block = backbone.sequence[position]!;
  return block.inputChannels === channels && inputStride(backbone, position) === stride;
}

export interface LeapRuleOptions {
  /** Most blocks in a leap net (default 4); more only where the stage entries require them. */
  maxDepth?: number;
}

/**
 * The leap list for module i when no table covers the partition. Positions count the stem as 0
 * and the last block as N. For a module ending at position p:
 *
 * 1. Stage entries (required, as only a stage's first block changes width and resolution): the
 *    leap starts at the first block of the latest later stage that accepts the module's output
 *    directly (the "leap": stage-1 modules of a CIFAR ResNet jump to (2,0)), then takes the first
 *    block of every stage after it. A module in the last stage has none.
 * 2. Uniform samples, as AugLocal (`idx_j = l + (N - l) * j / d`), rounded up towards the output:
 *    d blocks after the last entry a (or after p), the last one always the network's last block,
 *    d = min(maxDepth - entries, N - a), at least 1; a module in the last stage leaps less
 *    (maxDepth - 1 blocks).
 *
 * On ResNet-32 this reproduces 17 of METHOD §5's 21 lists (it cannot produce both lists the
 * authors give a module ending at (3,0), nor their alternation of (3,2) and (3,3) in stage 1);
 * the tables override it where they exist.
 */
export function leapRule(
  backbone: Backbone,
  modules: readonly LocalModule[],
  moduleIndex: number,
  options: LeapRuleOptions = {},
): LeapBlock[] {
  const maxDepth = options.maxDepth ?? 4;
  const sequence = backbone.sequence;
  const module = modules[moduleIndex]!;
  const last = sequence.length - 1;
  const end = sequence.indexOf(module.last);
  if (end === last) return [];
  const channels = module.outputChannels;
  const stride = module.last.outputStride;
  const lastStage = sequence[last]!.stage;
  const firstOfStage = (stage: number) => sequence.findIndex((b) => b.stage === stage && b.index === 0);

  const entries: number[] = [];
  const moduleStage = module.last.stage;
  if (moduleStage < lastStage) {
    let entryStage: number | undefined;
    for (let s = lastStage; s > moduleStage; s--) {
      const first = firstOfStage(s);
      if (first > end && accepts(backbone, first, channels, stride)) {
        entryStage = s;
        break;
      }
    }
    if (entryStage === undefined) {
      // No later stage takes this output as is: walk on inside the stage to its next entry.
      entries.push(end + 1);
      entryStage = sequence[end + 1]!.stage;
    }
    for (let s = entryStage; s <= lastStage; s++) {
      const first = firstOfStage(s);
      if (first > (entries[entries.length - 1] ?? end)) entries.push(first);
    }
  }
  const anchor = entries.length > 0 ? entries[entries.length - 1]! : end;
  const cap = moduleStage < lastStage ? maxDepth : maxDepth - 1;
  const picks: number[] = [];
  if (anchor < last) {
    const d = Math.max(1, Math.min(cap - entries.length, last - anchor));
    for (let j = 1; j <= d; j++) picks.push(anchor + Math.ceil(((last - anchor) * j) / d));
  }
  return [...entries, ...picks].map((p) => [sequence[p]!.stage, sequence[p]!.index] as const);
}

export interface LeapListOptions extends LeapRuleOptions {
  /** Ignore the authors' tables and use the rule everywhere. */
  ruleOnly?: boolean;
}

/** The leap list of module i: the authors' table for this partition if there is one, else the rule. */
export function leapBlocksFor(
  backbone: Backbone,
  modules: readonly LocalModule[],
  moduleIndex: number,
  options: LeapListOptions = {},
): LeapBlock[] {
  if (moduleIndex >= modules.length - 1) return [];
  const table = options.ruleOnly ? undefined : findLeapTable(backbone, modules);
  if (table) return table.lists[moduleIndex]!.map((b) => [b[0], b[1]] as const);
  return leapRule(backbone, modules, moduleIndex, options);
}

function describe(block: LeapBlock): string {
  return `[${block[0]}, ${block[1]}]`;
}

function describeStages(backbone: Backbone): string {
  return backbone.stageDepths.map((d, i) => `stage ${i + 1}: blocks 0-${d - 1}`).join(', ');
}

/**
 * Resolve a leap list to backbone blocks, checking that every block exists and that the chain fits:
 * the first block takes the module's output, each next block the previous one's.
 */
export function resolveLeapBlocks(backbone: Backbone, module: LocalModule, list: readonly LeapBlock[]): BackboneBlock[] {
  if (list.length === 0) {
    throw new LamError(
      `The leap list of module ${module.index} is empty. Give at least one later block (e.g. the network's last), or leave module ${module.index} out of leapBlocks to use the default.`,
    );
  }
  const sequence = backbone.sequence;
  let channels = module.outputChannels;
  let stride = module.last.outputStride;
  let previous = `module ${module.index}'s output`;
  return list.map((entry) => {
    if (!Array.isArray(entry) || entry.length !== 2 || !entry.every((n) => Number.isInteger(n))) {
      throw new LamError(`Leap list of module ${module.index}: ${JSON.stringify(entry)} is not a [stage, block] pair of integers.`);
    }
    const block = backbone.findBlock(entry[0], entry[1]);
    if (!block) {
      throw new LamError(
        `Leap list of module ${module.index} names block ${describe(entry)}, which does not exist in ${backbone.id} ` +
          `(stage 0 is the stem [0, 0]; ${describeStages(backbone)}). Name existing blocks.`,
      );
    }
    const position = sequence.indexOf(block);
    if (!accepts(backbone, position, channels, stride)) {
      throw new LamError(
        `Leap list of module ${module.index}: block ${describe(entry)} takes ${block.inputChannels} channels at stride ${inputStride(backbone, position)}, ` +
          `but ${previous} has ${channels} channels at stride ${stride}. Start each stage with its first block (e.g. [${block.stage}, 0]).`,
      );
    }
    channels = block.outputChannels;
    stride = block.outputStride;
    previous = `block ${describe(entry)}`;
    return block;
  });
}
