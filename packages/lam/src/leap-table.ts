import type { CutPoint } from '@mlaan/core';

// The shape of a leap list as data: what leap.ts and the tables of each network family share.

/** `[stage, block]` of a backbone block (stage 0 is the stem), as in the split tables. */
export type LeapBlock = readonly [stage: number, block: number];

/**
 * The leap lists the MLAAN authors used, as data. `lists[i]` serves module i (0-based, for the
 * modules of `cuts`); the last module has none. Matched by network id and cut points.
 */
export interface LeapTable {
  net: string;
  /** Cut points of the partition the lists belong to (without a trailing cut at the last block). */
  cuts: readonly CutPoint[];
  lists: readonly (readonly LeapBlock[])[];
  source: string;
}
