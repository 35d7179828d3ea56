import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '@mlaan/core';
import { describe, expect, it } from 'vitest';
import { readProduced } from '../compare.js';
import { compareWithFloat64 } from '../float64.js';
import { FixtureError, loadFixture } from '../fixture.js';
import { augLocalRunner } from './auglocal.js';
import { backendsThatLoad } from '../test-backends.js';

const here = dirname(fileURLToPath(import.meta.url));
// Committed with the package: synthetic images, so it carries no dataset (make_auglocal_fixture.py).
const fixtureDir = resolve(here, '../../fixtures/auglocal-resnet32-k4-depth3');

const available = await backendsThatLoad();

describe('AugLocal against the authors\' code (fixtures/auglocal-resnet32-k4-depth3, float64 verdict)', () => {
  for (const [backend, loads] of available) {
    it.skipIf(!loads)(`${backend}: every tensor of the step, median distance from float64 within 3 x PyTorch float32's, no more tensors over 1e-4 than PyTorch + 5`, async () => {
      await selectBackend(backend, { log: () => {} });
      const fixture = await loadFixture(fixtureDir);
      const produced = await augLocalRunner.run(fixture);
      try {
        const report = compareWithFloat64(fixture, await readProduced(produced));
        // Logits, loss, the gradients of 3 local modules, their 3 auxiliary networks and fc, running statistics.
        expect(report.rows.length).toBe(fixture.expectedFloat64!.size);
        expect(report.rows.length).toBeGreaterThan(120);
        expect(report.rows.every((r) => Number.isFinite(r.ours)), JSON.stringify(report.rows.filter((r) => !Number.isFinite(r.ours)).slice(0, 3))).toBe(true);
        expect(report.precisionOk, `median ${report.ours.median} vs PyTorch ${report.reference.median}`).toBe(true);
        // One fixture is too few to judge tie flips (FLOAT64_LIMITS.minimumFlipSample); PyTorch's own float32 step has 2 here.
        expect(report.ours.over, JSON.stringify(report.rows.filter((r) => r.ours > 1e-4))).toBeLessThanOrEqual(report.reference.over + 5);
      } finally {
        for (const t of produced.values()) t.dispose();
      }
    }, 600_000);
  }

  it("refuses a fixture whose recorded architectures this library's rule does not build", async () => {
    await selectBackend('cpu', { log: () => {} });
    const fixture = await loadFixture(fixtureDir);
    const grid = structuredClone(fixture.config.authors_architectures) as { auxiliary?: { blocks: number[][] }[] }[];
    expect(grid.length).toBeGreaterThan(100);
    // Their first block of module 0 at (resnet32, 3 modules, depth 1) halves the map; claim it does not.
    grid[0]!.auxiliary![0]!.blocks[0]![1] = 1;
    const run = augLocalRunner.run({ ...fixture, config: { ...fixture.config, authors_architectures: grid } });
    await expect(run).rejects.toThrow(FixtureError);
    await expect(run).rejects.toThrow(/differ from the authors' in 1 configuration/);
  });
});
