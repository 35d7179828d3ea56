import { ConfigError } from '@mlaan/core';

/**
 * The first `limit` examples taken class by class in turn (one of class 0, one of class 1, …, in
 * file order within each class), so every class gets ⌊limit/classes⌋ or one more; a class that
 * runs out leaves its share to the others. Returns the chosen indices in file order.
 */
export function balancedSubset(labels: Int32Array, classCount: number, limit: number): Int32Array {
  if (!Number.isInteger(limit) || limit < 1) throw new ConfigError(`limit must be a positive integer, got ${limit}. Pass the number of examples to keep.`);
  if (limit >= labels.length) return Int32Array.from(labels.keys());
  const byClass: number[][] = Array.from({ length: classCount }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i);
  const chosen: number[] = [];
  for (let round = 0; chosen.length < limit; round++) {
    for (let label = 0; label < classCount && chosen.length < limit; label++) {
      const index = byClass[label]![round];
      if (index !== undefined) chosen.push(index);
    }
  }
  return Int32Array.from(chosen).sort();
}
