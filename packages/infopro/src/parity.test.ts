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
import { useTestBackend } from './test-support.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtureDir = join(process.env.MLAAN_GOLDEN_DIR ?? resolve(here, '../../../../shared/golden'), 'infopro-resnet32-k4');

let backend = 'cpu';
beforeAll(async () => {
  backend = await useTestBackend();
});

const maxAbs = (t: tf.Tensor | Float32Array) => Math.max(...Array.from(t instanceof tf.Tensor ? t.dataSync() : t).map(Math.abs));

/**
 * Two kinds of tensor cannot meet 1e-4 relative on float32 kernels, for reasons checked below:
 * - the decoders' first conv bias feeds a training-mode BN, so its gradient is exactly zero in
 *   theory and only rounding noise (~1e-8) in both implementations;
 * - a pre-activation of layer2.3.bn1 (channel 20) lies 2.7e-7 from ReLU's kink (on cpu one in
 *   channel 13 too), so float32 rounding flips its mask between PyTorch and tfjs; that element's
 *   gradient changes layer2.3's and, through the backward, layer2.2's gradients by up to ~1e-2
 *   relative.
 */
const zeroByConstruction = /^grad\.infopro\.\d+\.decoder\.decoder\.0\.bias$/;
const reluTie = /^grad\.layer2\.[23]\./;

describe.skipIf(!existsSync(fixtureDir))('parity with the authors InfoPro code (shared/golden/infopro-resnet32-k4)', () => {
  it('loss, logits and every gradient match within 1e-4 relative (documented float32 exceptions checked)', async () => {
    const fixture = await loadFixture(fixtureDir);
    const produced = await infoproRunner.run(fixture);
    const rows = compareTensors(fixture.expected, produced, 1e-4);
    expect(rows.length).toBe(fixture.expected.size);
    expect(rows.find((r) => r.name === 'loss')!.ok).toBe(true);
    expect(rows.find((r) => r.name === 'logits')!.ok).toBe(true);

    const strict = rows.filter((r) => !zeroByConstruction.test(r.name) && !reluTie.test(r.name));
    expect(strict.length).toBeGreaterThan(125);
    const strictFailures = strict.filter((r) => !r.ok);
    expect(strictFailures, `${backend}: ${JSON.stringify(strictFailures.slice(0, 5))}`).toEqual([]);

    const expected = (name: string) => rawToTensor(fixture.expected.get(name)!);
    for (const row of rows.filter((r) => zeroByConstruction.test(r.name))) {
      const scale = maxAbs(expected(row.name.replace(/bias$/, 'weight')));
      expect(maxAbs(expected(row.name)), row.name).toBeLessThan(1e-6 * scale);
      expect(maxAbs(produced.get(row.name)!), row.name).toBeLessThan(1e-6 * scale);
    }

    // The tie: layer2.3.bn1's error sits in a few channels (20 on wasm; 13 and 20 on cpu), and in
    // each Δγ/Δβ equals the normalised value of an element at the kink, x̂ = (0 - β)/γ: exactly
    // what one flipped ReLU mask per channel produces.
    const channelErrors = (name: string) => {
      const ours = produced.get(name)!.dataSync();
      const theirs = expected(name).dataSync();
      return Array.from(ours, (v, i) => v - theirs[i]!);
    };
    const biasError = channelErrors('grad.layer2.3.bn1.bias');
    const weightError = channelErrors('grad.layer2.3.bn1.weight');
    const scale = maxAbs(expected('grad.layer2.3.bn1.bias'));
    const gammas = rawToTensor(fixture.weights.get('layer2.3.bn1.weight')!).dataSync();
    const betas = rawToTensor(fixture.weights.get('layer2.3.bn1.bias')!).dataSync();
    const flipped = biasError.map((e, c) => (Math.abs(e) > 1e-4 * scale ? c : -1)).filter((c) => c >= 0);
    expect(flipped.length, `${backend}: channels ${flipped.join(', ')}`).toBeLessThanOrEqual(3);
    for (const c of flipped) {
      expect(weightError[c]! / biasError[c]!, `${backend}: channel ${c}`).toBeCloseTo(-betas[c]! / gammas[c]!, 2);
    }
    for (const row of rows.filter((r) => reluTie.test(r.name))) expect(row.relativeError, row.name).toBeLessThan(2e-2);

    for (const t of produced.values()) t.dispose();
  });
});
