import { ConfigError } from '../errors.js';

/** Which contiguous modules each worker owns: worker w runs modules `[ranges[w][0], ranges[w][1])`. */
export interface Placement {
  ranges: [first: number, end: number][];
  /** Sum of the module costs of each worker (the unit of the costs given; 1 per module by count). */
  stageCosts: number[];
}

/**
 * Contiguous ranges of modules, one per worker, that minimise the slowest worker's summed cost
 * (the pipeline's throughput is set by its slowest stage). Exact, by dynamic programming over
 * (modules placed, workers used); ties go to the placement whose earlier stages are lighter.
 */
export function placeByCost(costs: readonly number[], workers: number): Placement {
  const K = costs.length;
  if (!(Number.isInteger(workers) && workers >= 1 && workers <= K)) {
    throw new ConfigError(`workers must be an integer from 1 to the number of modules (${K}), got ${workers}.`);
  }
  if (costs.some((c) => !(c >= 0) || !Number.isFinite(c))) throw new ConfigError(`Module costs must be finite and >= 0, got [${costs.join(', ')}].`);
  const prefix = [0];
  for (const c of costs) prefix.push(prefix[prefix.length - 1]! + c);
  const sum = (a: number, b: number) => prefix[b]! - prefix[a]!;
  // best[w][i]: the smallest possible slowest stage placing modules [0, i) on w workers.
  const best: number[][] = Array.from({ length: workers + 1 }, () => new Array<number>(K + 1).fill(Infinity));
  const cut: number[][] = Array.from({ length: workers + 1 }, () => new Array<number>(K + 1).fill(-1));
  best[0]![0] = 0;
  for (let w = 1; w <= workers; w++) {
    for (let i = w; i <= K - (workers - w); i++) {
      for (let j = w - 1; j < i; j++) {
        const slowest = Math.max(best[w - 1]![j]!, sum(j, i));
        if (slowest < best[w]![i]!) {
          best[w]![i] = slowest;
          cut[w]![i] = j;
        }
      }
    }
  }
  const ranges: [number, number][] = [];
  for (let w = workers, i = K; w >= 1; w--) {
    const j = cut[w]![i]!;
    ranges.unshift([j, i]);
    i = j;
  }
  return { ranges, stageCosts: ranges.map(([a, b]) => sum(a, b)) };
}

/** As many modules per worker as possible, earlier workers taking the remainder. */
export function placeByCount(moduleCount: number, workers: number): Placement {
  return placeByCost(new Array<number>(moduleCount).fill(1), workers);
}

/** Checks a placement given by hand: contiguous, non-empty, covering every module once. */
export function checkPlacement(ranges: readonly (readonly [number, number])[], moduleCount: number): Placement {
  let next = 0;
  for (const [first, end] of ranges) {
    if (first !== next || !(end > first)) {
      throw new ConfigError(
        `placement [${ranges.map((r) => `[${r[0]}, ${r[1]})`).join(', ')}] must list non-empty, contiguous module ranges from 0 to ${moduleCount}.`,
      );
    }
    next = end;
  }
  if (next !== moduleCount) throw new ConfigError(`placement ends at module ${next}, but there are ${moduleCount} modules; the last range must end at ${moduleCount}.`);
  return { ranges: ranges.map(([a, b]) => [a, b]), stageCosts: ranges.map(([a, b]) => b - a) };
}
