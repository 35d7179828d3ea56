import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import type { LossTerm } from './plugin.js';
import { checkModuleRange, defaultTerms, planTerms, termsCrossing } from './term-plan.js';

// Four modules, each with its own loss and a cascade over a 3-module window clipped at the front
// (as MLM's paper profile): cascade i spans [max(0, i - 2), i].
const cascades = (K: number): LossTerm[] => [
  ...defaultTerms(K),
  ...defaultTerms(K).map((t, i) => ({ name: `module${i}.cascade`, span: [Math.max(0, i - 2), i] as const, role: 'cascade' as const, weight: 1 })),
];

describe('term plan (no tensors)', () => {
  it('independent terms alone: each module is used by its own step and never parked', () => {
    const plan = planTerms(defaultTerms(3), 3);
    expect(plan.endingAt.map((terms) => terms.map((t) => t.name))).toEqual([['module0.independent'], ['module1.independent'], ['module2.independent']]);
    expect(plan.lastUse).toEqual([0, 1, 2]);
    expect(plan.parkAt).toEqual([-1, -1, -1]);
    expect(plan.finalTerm).toBe('module2.independent');
    expect(plan.spansSeveralModules).toBe(false);
  });

  it('3-module cascades: last use, where a module owes only its weight gradient, the widest last term', () => {
    const plan = planTerms(cascades(4), 4);
    expect(plan.endingAt[1]!.map((t) => t.name)).toEqual(['module1.independent', 'module1.cascade']);
    // Module 0 is reached by cascades 0..2, module 1 by cascades 1..3, module 2 by 2..3.
    expect(plan.lastUse).toEqual([2, 3, 3, 3]);
    // From step 1 every term still through module 0 starts at it; module 1 only from step 3
    // (cascade 2 spans 0..2); modules 2 and 3 are needed by a term starting earlier to the end.
    expect(plan.parkAt).toEqual([1, 3, -1, -1]);
    expect(plan.finalTerm).toBe('module3.cascade');
    expect(plan.spansSeveralModules).toBe(true);
  });

  it('rejects spans outside the partition, bad weights and duplicate names', () => {
    const term = (span: readonly [number, number], weight = 1, name = 't'): LossTerm => ({ name, span, role: 'independent', weight });
    expect(() => planTerms([term([0, 3])], 3)).toThrow(/span \[0, 3\], outside the 3 modules/);
    expect(() => planTerms([term([2, 1])], 3)).toThrow(ConfigError);
    expect(() => planTerms([term([0, 0], -1)], 3)).toThrow(/weights must be finite and >= 0/);
    expect(() => planTerms([term([0, 0], Infinity)], 3)).toThrow(ConfigError);
    expect(() => planTerms([term([0, 0]), term([1, 1])], 3)).toThrow(/Two loss terms are named 't'/);
  });
});

describe('module ranges (pipeline stages)', () => {
  const terms = [...defaultTerms(4), { name: 'window', span: [1, 2] as const, role: 'cascade' as const, weight: 1 }];
  const plan = planTerms(terms, 4);

  it('a term crosses a range when it passes through it and through a module outside it', () => {
    expect(termsCrossing(terms, 0, 2).map((t) => t.name)).toEqual(['window']);
    expect(termsCrossing(terms, 2, 4).map((t) => t.name)).toEqual(['window']);
    expect(termsCrossing(terms, 1, 3)).toEqual([]);
    expect(termsCrossing(terms, 3, 4)).toEqual([]);
  });

  it('checkModuleRange names the crossing term and rejects ranges outside the partition', () => {
    expect(() => checkModuleRange(plan, terms, 0, 2)).toThrow(/'window' spans modules \[1, 2\], beyond the range \[0, 2\)/);
    expect(() => checkModuleRange(plan, terms, 2, 5)).toThrow(ConfigError);
    expect(() => checkModuleRange(plan, terms, 1, 3)).not.toThrow();
  });
});
