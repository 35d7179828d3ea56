import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { loadAddon } from './native.js';
import { addonUnavailableReason, suiteTitle } from './test-support.js';

const flags = (() => {
  try {
    return /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? [];
  } catch {
    return [];
  }
})();

describe.skipIf(addonUnavailableReason !== null || flags.length === 0)(suiteTitle('machine probes'), () => {
  it('fmaPeak measures each vector width the CPU has, and gives 0 for one it lacks', () => {
    const addon = loadAddon();
    for (const [bits, flag] of [
      [512, 'avx512f'],
      [256, 'fma'],
    ] as const) {
      const gflops = addon.fmaPeak(bits, 1, 50);
      if (flags.includes(flag)) {
        // One core at >= 1 GHz issues at least one FMA of bits/32 lanes per cycle.
        expect(gflops, `${bits}-bit`).toBeGreaterThan((bits / 32) * 2 * 1 * 0.25);
      } else {
        expect(gflops, `${bits}-bit`).toBe(0);
      }
    }
  });

  it('memoryBandwidth reports positive read and copy rates', () => {
    const { read, copy } = loadAddon().memoryBandwidth(1, 16, 20);
    expect(read).toBeGreaterThan(0.1);
    expect(copy).toBeGreaterThan(0.1);
  });

  it('rejects arguments it cannot measure', () => {
    const addon = loadAddon();
    expect(() => addon.fmaPeak(128 as 256, 1, 10)).toThrow(/bits must be 512 or 256/);
    expect(() => addon.fmaPeak(256, 0, 10)).toThrow(/threads must be at least 1/);
    expect(() => addon.memoryBandwidth(1, 0, 10)).toThrow(/at least 1/);
  });
});
