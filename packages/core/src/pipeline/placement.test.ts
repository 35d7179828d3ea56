import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { checkPlacement, placeByCost, placeByCount } from './placement.js';

describe('placement', () => {
  it('minimises the slowest worker, not the module count', () => {
    // One heavy module: alone on a worker; the three light ones share the other.
    expect(placeByCost([1, 1, 1, 6], 2)).toEqual({ ranges: [[0, 3], [3, 4]], stageCosts: [3, 6] });
    expect(placeByCost([5, 1, 1, 1], 2)).toEqual({ ranges: [[0, 1], [1, 4]], stageCosts: [5, 3] });
    // By hand: {2,3 | 4 | 1,2} has slowest 5; nothing better exists with three contiguous ranges.
    expect(Math.max(...placeByCost([2, 3, 4, 1, 2], 3).stageCosts)).toBe(5);
  });

  it('by count, as even as possible; one worker takes everything; K workers one module each', () => {
    expect(placeByCount(8, 2).ranges).toEqual([[0, 4], [4, 8]]);
    expect(placeByCount(4, 1).ranges).toEqual([[0, 4]]);
    expect(placeByCount(3, 3).ranges).toEqual([[0, 1], [1, 2], [2, 3]]);
  });

  it('rejects more workers than modules and ranges that are not contiguous', () => {
    expect(() => placeByCost([1, 1], 3)).toThrow(ConfigError);
    expect(() => checkPlacement([[0, 2], [3, 4]], 4)).toThrow(/contiguous/);
    expect(() => checkPlacement([[0, 2]], 4)).toThrow(/ends at module 2/);
    expect(checkPlacement([[0, 1], [1, 4]], 4).ranges).toEqual([[0, 1], [1, 4]]);
  });
});
