import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { rawToTensor } from '@mlaan/core';
// Source imports, not a package dependency: @mlaan/parity depends on this package.
import { compareTensors } from '../../parity/src/compare.js';
import { loadFixture } from '../../parity/src/fixture.js';
import { infoproRunner } from '../../parity/src/runners/infopro.js';
import { useTestBackend } from '@mlaan/test-support';

const here = dirname(fileURLToPath(import.meta.url));
const fixtureDir = join(process.env.MLAAN_GOLDEN_DIR ?? resolve(here, '../../../../shared/golden'), 'infopro-resnet32-k4');

let backend = 'cpu';
beforeAll(async () => {
  backend = await useTestBackend();
});

const maxAbs = (t: tf.Tensor | Float32Array) => Math.max(...Array.from(t instanceof tf.Tensor ? t.dataSync() : t).map(Math.abs));

/**
 * What float32 kernels can and cannot reproduce of this fixture:
 * - the decoders' first conv bias feeds a training-mode BN, so its gradient is exactly zero in
 *   theory and only rounding noise (~1e-8) in both implementations: compared as noise;
 * - the batch's ResNet-32 forward has pre-activations within 1e-5 of ReLU's kink in most blocks
 *   (e.g. layer2.3.bn1 channel 20 at 2.7e-7, layer3.3's output channel 19 at 7.6e-6), and
 *   rounding differences between kernels flip a few of those masks. One flipped element changes
 *   the gradients of its block and of the earlier blocks of its module by up to ~1.5e-2 relative
 *   (checked by hand: Δγ/Δβ of the BN before the flipped ReLU equals that element's x̂), while a
 *   mapping or formula error moves every tensor by O(1). Which masks flip depends on the backend
 *   and its kernels, so backbone tensors are held to: most within 1e-4, all within 3e-2.
 */
const zeroByConstruction = /^grad\.infopro\.\d+\.decoder\.decoder\.0\.bias$/;
const isHead = (name: string) => name.startsWith('grad.infopro.') || name.startsWith('grad.fc.');

describe.skipIf(!existsSync(fixtureDir))('parity with the authors InfoPro code (shared/golden/infopro-resnet32-k4)', () => {
  it('loss, logits and every head gradient within 1e-4; backbone gradients up to flipped ReLU masks', async () => {
    const fixture = await loadFixture(fixtureDir);
    const produced = await infoproRunner.run(fixture);
    const rows = compareTensors(fixture.expected, produced, 1e-4);
    expect(rows.length).toBe(fixture.expected.size);
    const summary = (list: typeof rows) => `${backend}: ${list.map((r) => `${r.name}=${r.relativeError.toExponential(1)}`).join(' ')}`;

    const exact = rows.filter((r) => r.name === 'loss' || r.name === 'logits' || (isHead(r.name) && !zeroByConstruction.test(r.name)));
    expect(exact.length).toBe(2 + 3 * 12 + 2);
    expect(exact.filter((r) => !r.ok), summary(exact.filter((r) => !r.ok))).toEqual([]);

    const expected = (name: string) => rawToTensor(fixture.expected.get(name)!);
    for (const row of rows.filter((r) => zeroByConstruction.test(r.name))) {
      const scale = maxAbs(expected(row.name.replace(/bias$/, 'weight')));
      expect(maxAbs(expected(row.name)), row.name).toBeLessThan(1e-6 * scale);
      expect(maxAbs(produced.get(row.name)!), row.name).toBeLessThan(1e-6 * scale);
    }

    const backbone = rows.filter((r) => r.name.startsWith('grad.') && !isHead(r.name));
    expect(backbone.length).toBe(fixture.expected.size - exact.length - 3);
    const errors = backbone.map((r) => r.relativeError).sort((a, b) => a - b);
    expect(errors[Math.floor(errors.length / 2)]!, summary(backbone.filter((r) => !r.ok))).toBeLessThan(1e-5);
    expect(backbone.filter((r) => r.ok).length / backbone.length, summary(backbone.filter((r) => !r.ok))).toBeGreaterThan(0.7);
    expect(backbone.filter((r) => r.relativeError > 3e-2), summary(backbone.filter((r) => !r.ok))).toEqual([]);

    for (const t of produced.values()) t.dispose();
  });
});
