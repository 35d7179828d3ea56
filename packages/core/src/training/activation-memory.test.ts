import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { ActivationPolicy, checkActivationPolicy, decideActivationSchedule, sweepPeakBytes, windowPeakBytes } from './activation-memory.js';
import type { LossTerm } from './plugin.js';
import { defaultTerms, planTerms } from './term-plan.js';

const K = 4;
const withCascades = planTerms(
  [
    ...defaultTerms(K),
    ...defaultTerms(K).map((t, i): LossTerm => ({ name: `c${i}`, span: [Math.max(0, i - 2), i], role: 'cascade', weight: 1 })),
  ],
  K,
);
const bytes = { kept: [10, 20, 30, 40], outputs: [1, 2, 3, 4] };

describe('activation memory (no tensors)', () => {
  it('estimates the peaks of window and sweep by hand', () => {
    // window, step 3: module 1 parked (module 0's output, 1) + modules 2, 3 (30 + 40), and
    // module 1 re-run for its weight gradient (20): 91. Earlier steps hold less (10, 20, 60).
    expect(windowPeakBytes(withCascades, bytes)).toBe(91);
    // sweep, module 3: outputs and cotangent groups of modules 0..2 (2 + 6 + 9) + module 3's
    // activations (40) + its two cotangent groups (2 * 4): 65.
    expect(sweepPeakBytes(withCascades, bytes)).toBe(65);
  });

  it('decides the schedule once; measures only when it must choose', () => {
    let measured = 0;
    const measure = () => (measured++, bytes);
    const decide = (policy: ActivationPolicy, plan = withCascades) => decideActivationSchedule(policy, plan, measure);
    expect([decide('keep'), decide('window'), decide('sweep')]).toEqual(['keep', 'window', 'sweep']);
    expect(measured).toBe(0);
    expect([decide('recompute'), decide('auto')]).toEqual(['sweep', 'sweep']);
    expect(measured).toBe(2);
    const plain = planTerms(defaultTerms(K), K);
    expect((['keep', 'recompute', 'auto', 'window', 'sweep'] as const).map((p) => decide(p, plain))).toEqual(['keep', 'keep', 'keep', 'keep', 'keep']);
    expect(measured).toBe(2);
  });

  it('checks the policy against the training mode', () => {
    expect(() => checkActivationPolicy('sometimes' as ActivationPolicy, 'simultaneous')).toThrow(/activations must be 'keep', 'recompute', 'auto', 'window' or 'sweep'/);
    expect(() => checkActivationPolicy('sweep', 'sequential')).toThrow(ConfigError);
    expect(() => checkActivationPolicy('auto', 'sequential')).not.toThrow();
  });
});
