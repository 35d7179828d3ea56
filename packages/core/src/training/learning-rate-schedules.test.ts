import { describe, expect, it } from 'vitest';
import { cosineAnnealingSchedule, cosineWithWarmup, stepLearningRateSchedule } from './learning-rate-schedules.js';

describe('learning-rate schedules', () => {
  it('cosine with 10-epoch warm-up follows METHOD §6', () => {
    const lr = cosineWithWarmup({ initialLearningRate: 0.8, epochs: 400 });
    expect(lr(0)).toBeCloseTo(0.01, 10); // e = 1: only the 0.01 term
    const e = 5;
    expect(lr(e - 1)).toBeCloseTo(0.5 * 0.8 * (1 + Math.cos((Math.PI * e) / 400)) * (e - 1) / 10 + (0.01 * (11 - e)) / 10, 10);
    expect(lr(10)).toBeCloseTo(0.5 * 0.8 * (1 + Math.cos((Math.PI * 11) / 400)), 10);
    expect(lr(399)).toBeCloseTo(0, 10);
  });

  it("cosine annealing is PyTorch's CosineAnnealingLR per epoch: lr0 at the first epoch, never 0", () => {
    const lr = cosineAnnealingSchedule({ initialLearningRate: 0.1, epochs: 10 });
    expect(lr(0)).toBe(0.1);
    expect(lr(5)).toBeCloseTo(0.05, 12); // 0.5 · 0.1 · (1 + cos(π / 2))
    expect(lr(9)).toBeCloseTo(0.05 * (1 + Math.cos(0.9 * Math.PI)), 12);
    expect(lr(9)).toBeGreaterThan(0);
    expect(() => cosineAnnealingSchedule({ initialLearningRate: 0.1, epochs: 0 })).toThrow(/epochs must be positive/);
  });

  it('step schedule multiplies by gamma at each milestone', () => {
    const lr = stepLearningRateSchedule({ initialLearningRate: 0.1, milestones: [2, 4], gamma: 0.1 });
    expect([0, 1, 2, 3, 4].map(lr).map((v) => +v.toFixed(6))).toEqual([0.1, 0.1, 0.01, 0.01, 0.001]);
  });
});
