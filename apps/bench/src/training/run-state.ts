import type { MemoryPeaks } from './memory.js';
import { emptyMemoryPeaks } from './memory.js';
import type { EpochRecord, LossPoint } from '../results/result-format.js';

/** Where the run is: the next epoch (0-based) and the next batch within it. */
export interface Cursor {
  epoch: number;
  batch: number;
  globalStep: number;
}

/** Sums over the epoch in progress, turned into an EpochRecord when it ends. */
export interface EpochTotals {
  lossSum: number;
  lossCount: number;
  /** Each loss term's sum weighted by batch size, by term name. */
  termSums: Record<string, number>;
  trainSeconds: number;
  images: number;
  wallSeconds: number;
}

/** The loss curve so far and the window being averaged into its next point. */
export interface Curve {
  points: LossPoint[];
  windowSum: number;
  windowCount: number;
}

/** Speed over the whole run, without the first step of a session and without profiled steps. */
export interface Throughput {
  trainSeconds: number;
  trainImages: number;
  measuredSteps: number;
  evalSeconds: number;
  wallSeconds: number;
}

/** Everything about a run in progress that a checkpoint must carry besides the tensors. */
export interface RunState {
  configId: string;
  cursor: Cursor;
  epoch: EpochTotals;
  history: EpochRecord[];
  curve: Curve;
  throughput: Throughput;
  memory: MemoryPeaks;
  sessions: number;
  startedAt: string;
}

export function emptyEpochTotals(): EpochTotals {
  return { lossSum: 0, lossCount: 0, termSums: {}, trainSeconds: 0, images: 0, wallSeconds: 0 };
}

export function freshRunState(configId: string): RunState {
  return {
    configId,
    cursor: { epoch: 0, batch: 0, globalStep: 0 },
    epoch: emptyEpochTotals(),
    history: [],
    curve: { points: [], windowSum: 0, windowCount: 0 },
    throughput: { trainSeconds: 0, trainImages: 0, measuredSteps: 0, evalSeconds: 0, wallSeconds: 0 },
    memory: emptyMemoryPeaks(),
    sessions: 1,
    startedAt: new Date().toISOString(),
  };
}

/** Adds one step's losses (term values weighted by the batch size) to the epoch's totals. */
export function addStepLosses(totals: EpochTotals, loss: number, terms: Record<string, number>, size: number): void {
  totals.lossSum += loss * size;
  totals.lossCount += size;
  for (const [name, value] of Object.entries(terms)) totals.termSums[name] = (totals.termSums[name] ?? 0) + value * size;
}

/** The epoch's mean of each loss term. */
export function meanTermLosses(totals: EpochTotals): Record<string, number> {
  return Object.fromEntries(Object.entries(totals.termSums).map(([name, sum]) => [name, totals.lossCount > 0 ? sum / totals.lossCount : NaN]));
}
