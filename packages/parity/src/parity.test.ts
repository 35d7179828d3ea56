import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '@mlaan/core';
import { describe, expect, it } from 'vitest';
import { runParity } from './parity.js';

const here = dirname(fileURLToPath(import.meta.url));
const goldenDir = process.env.MLAAN_GOLDEN_DIR ?? resolve(here, '../../../../shared/golden');

describe.skipIf(!existsSync(goldenDir))('parity with the authors PyTorch code (shared/golden)', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`e2e-resnet32 on ${backend}: logits, loss, every gradient, running stats, eval logits within 1e-4`, async () => {
      await selectBackend(backend, { log: () => {} });
      const report = await runParity(join(goldenDir, 'e2e-resnet32'));
      const failures = report.rows.filter((r) => !r.ok);
      expect(failures, JSON.stringify(failures.slice(0, 5))).toEqual([]);
      expect(report.rows.length).toBeGreaterThan(150);
      expect(report.ok).toBe(true);
    });
  }
});
