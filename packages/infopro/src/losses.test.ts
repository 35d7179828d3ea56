import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { binaryCrossEntropyWithLogits, l2Normalize, supervisedContrastiveLoss } from './index.js';
import { useTestBackend } from '@mlaan/test-support';

beforeAll(async () => {
  await useTestBackend();
});

/** Float64 SupCon straight from the definition, for finite differences. */
function supConReference(features: number[][], labels: number[], temperature: number, baseTemperature: number): number {
  const z = features.map((f) => {
    const norm = Math.max(Math.hypot(...f), 1e-12);
    return f.map((v) => v / norm);
  });
  const n = z.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const s = z.map((zj) => zj.reduce((acc, v, k) => acc + v * z[i]![k]!, 0) / temperature);
    let denominator = 0;
    for (let a = 0; a < n; a++) if (a !== i) denominator += Math.exp(s[a]!);
    const positives = labels.map((l, p) => (p !== i && l === labels[i] ? p : -1)).filter((p) => p >= 0);
    if (positives.length === 0) continue;
    const mean = positives.reduce((acc, p) => acc + s[p]! - Math.log(denominator), 0) / positives.length;
    total += -(temperature / baseTemperature) * mean;
  }
  return total / n;
}

describe('supervised contrastive loss', () => {
  // Unit vectors at 0°, 90°, 180°, 270°; labels [0, 0, 1, 2]: samples 2 and 3 have no positive.
  const square = [[1, 0], [0, 1], [-1, 0], [0, -1]];
  const labels = [0, 0, 1, 2];

  it('matches the hand-computed value, with anchors that have no positive counted as 0 in the mean', () => {
    // τ = τ_b = 1. Anchor 0: s01 = 0, others s02 = -1, s03 = 0 → log p = -log(2 + e^-1); anchor 1
    // likewise; anchors 2, 3 contribute 0. loss = (2 · log(2 + e^-1)) / 4.
    const expected = Math.log(2 + Math.exp(-1)) / 2;
    const loss = supervisedContrastiveLoss(tf.tensor2d(square), tf.tensor1d(labels, 'int32'), { temperature: 1, baseTemperature: 1 });
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 6);
    // τ = τ_b = 0.07 (InfoPro's): log(2 + e^{-1/0.07}) / 2.
    const sharp = supervisedContrastiveLoss(tf.tensor2d(square), tf.tensor1d(labels, 'int32'));
    expect(sharp.dataSync()[0]).toBeCloseTo(Math.log(2 + Math.exp(-1 / 0.07)) / 2, 6);
    // τ / τ_b scales the loss.
    const scaled = supervisedContrastiveLoss(tf.tensor2d(square), tf.tensor1d(labels, 'int32'), { temperature: 1, baseTemperature: 0.5 });
    expect(scaled.dataSync()[0]).toBeCloseTo(2 * expected, 6);
    // No positive anywhere: every anchor contributes 0.
    const none = supervisedContrastiveLoss(tf.tensor2d(square), tf.tensor1d([0, 1, 2, 3], 'int32'));
    expect(Math.abs(none.dataSync()[0]!)).toBe(0);
    tf.dispose([loss, sharp, scaled, none]);
  });

  it('gradient through L2 normalisation matches central finite differences of a float64 reference', () => {
    const features = [
      [0.3, -1.2, 0.5],
      [1.1, 0.4, -0.2],
      [-0.7, 0.9, 0.8],
      [0.2, 0.1, -1.5],
      [0.6, -0.3, 0.4],
    ];
    const y = [1, 1, 0, 0, 2];
    const temperature = 0.5;
    const x = tf.tensor2d(features);
    const gradient = tf.grad((f: tf.Tensor) => supervisedContrastiveLoss(l2Normalize(f), tf.tensor1d(y, 'int32'), { temperature }))(x);
    const g = gradient.arraySync() as number[][];
    const value = supervisedContrastiveLoss(l2Normalize(x), tf.tensor1d(y, 'int32'), { temperature });
    expect(value.dataSync()[0]).toBeCloseTo(supConReference(features, y, temperature, 0.07), 5);
    const h = 1e-5;
    for (let i = 0; i < features.length; i++) {
      for (let k = 0; k < 3; k++) {
        const plus = features.map((r) => [...r]);
        const minus = features.map((r) => [...r]);
        plus[i]![k]! += h;
        minus[i]![k]! -= h;
        const numeric = (supConReference(plus, y, temperature, 0.07) - supConReference(minus, y, temperature, 0.07)) / (2 * h);
        expect(g[i]![k]!).toBeCloseTo(numeric, 3);
      }
    }
    tf.dispose([x, gradient, value]);
  });

  it('rejects mismatched shapes', () => {
    expect(() => supervisedContrastiveLoss(tf.zeros([4, 2]), tf.zeros([3], 'int32'))).toThrow(/needs 4 labels/);
    expect(() => supervisedContrastiveLoss(tf.zeros([4, 2, 1]), tf.zeros([4], 'int32'))).toThrow(/\[batch, dim\]/);
  });
});

describe('binary cross-entropy', () => {
  it('equals -[y log σ(z) + (1-y) log(1-σ(z))] averaged, and stays finite for large logits', () => {
    const z = [0, 2, -3, 0.5];
    const y = [0.5, 1, 0.25, 0];
    const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
    const expected = z.reduce((acc, v, i) => acc - (y[i]! * Math.log(sigmoid(v)) + (1 - y[i]!) * Math.log(1 - sigmoid(v))), 0) / z.length;
    // By hand, max(z,0) - z·y + ln(1 + e^-|z|) per entry: ln 2, ln(1+e^-2), 0.75 + ln(1+e^-3), 0.5 + ln(1+e^-0.5).
    expect(expected).toBeCloseTo((Math.log(2) + Math.log(1 + Math.exp(-2)) + (0.75 + Math.log(1 + Math.exp(-3))) + (0.5 + Math.log(1 + Math.exp(-0.5)))) / 4, 10);
    const loss = binaryCrossEntropyWithLogits(tf.tensor1d(z), tf.tensor1d(y));
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 6);
    const large = binaryCrossEntropyWithLogits(tf.tensor1d([100, -100]), tf.tensor1d([0, 1]));
    expect(large.dataSync()[0]).toBeCloseTo(100, 4);
    const gradient = tf.grad((logits: tf.Tensor) => binaryCrossEntropyWithLogits(logits, tf.tensor1d(y)))(tf.tensor1d(z));
    const g = gradient.dataSync();
    z.forEach((v, i) => expect(g[i]).toBeCloseTo((sigmoid(v) - y[i]!) / z.length, 6));
    tf.dispose([loss, large, gradient]);
  });

  it("matches the reference's float32 Sigmoid + BCELoss where σ(z) saturates: log clamped at -100, gradient 0", () => {
    // σ(20) is exactly 1 in float32 (1 - σ(20) = 2e-9 is below half an ulp of 1), σ(5) is not.
    const z = tf.tensor1d([20, 5, -120]);
    const y = tf.tensor1d([0.3, 0.3, 0.6]);
    const loss = binaryCrossEntropyWithLogits(z, y).dataSync()[0]!;
    const sigmoid5 = 1 / (1 + Math.exp(-5));
    // -(0.3·log 1 + 0.7·max(log 0, -100)) = 70; σ(5) entry exact; σ(-120) = 0: -(0.6·(-100) + 0.4·log 1) = 60.
    const expected = (70 - (0.3 * Math.log(sigmoid5) + 0.7 * Math.log(1 - sigmoid5)) + 60) / 3;
    expect(loss).toBeCloseTo(expected, 3);
    const g = tf.grad((logits: tf.Tensor) => binaryCrossEntropyWithLogits(logits, y))(z).dataSync();
    expect(Math.abs(g[0]!)).toBe(0);
    expect(g[1]).toBeCloseTo((sigmoid5 - 0.3) / 3, 6);
    expect(Math.abs(g[2]!)).toBe(0);
  });

  it('l2Normalize leaves a zero vector at zero', () => {
    const out = l2Normalize(tf.tensor2d([[0, 0], [3, 4]]));
    expect(Array.from(out.dataSync())).toEqual([0, 0, expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
    out.dispose();
  });
});
