import { describe, expect, it } from 'vitest';
import { earlyUpstreamModule, sweepGroupOrder } from './backward-schedules.js';
import type { LossTerm } from './plugin.js';

// Five modules, each with its own term and a cascade through a window of three ending at it (as
// MLM), its own term's head running first: the plan the orders below are computed by hand from.
const headed = (spans: [number, number][]) =>
  spans.map((span): { term: LossTerm } => ({ term: { name: `${span[0]}-${span[1]}`, span, role: span[0] === span[1] ? 'independent' : 'cascade', weight: 1 } }));
const MLM_LIKE = [0, 1, 2, 3, 4].map((m) => headed([[m, m], [Math.max(0, m - 2), m]]));

describe('the sweep schedule', () => {
  it("sums a module's cotangent groups in the order the whole model's sweep adds them: its heads', then those from the module above", () => {
    // Module 3: its heads (3, then the cascade from 1), then from module 4 the cascade from 2.
    // Module 2: its heads (2, 0), then from module 3 the group of 1 (2 is there already).
    expect(sweepGroupOrder(MLM_LIKE)).toEqual([[0], [1, 0], [2, 0, 1], [3, 1, 2], [4, 2]]);
  });

  it('sends the cotangents of terms from an earlier stage after the last of their heads, unless one goes past the range', () => {
    // From module 2: the windows from 0 and 1 end at modules 2 and 3.
    expect(earlyUpstreamModule(MLM_LIKE, 2, 5)).toBe(3);
    expect(earlyUpstreamModule(MLM_LIKE, 2, 4)).toBe(3);
    // [1, 3] goes past a range that ends at 3: its cotangent comes back first, so nothing goes early.
    expect(earlyUpstreamModule(MLM_LIKE, 2, 3)).toBe(-1);
    // No term begins before the first module.
    expect(earlyUpstreamModule(MLM_LIKE, 0, 5)).toBe(-1);
  });
});
