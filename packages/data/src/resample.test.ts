import { describe, expect, it } from 'vitest';
import { resample, resampleCoefficients, reversed } from './image/resample.js';
import { drawResizedCrop, Draws } from './pipeline.js';

const identity = { scale: [1, 1, 1], bias: [0, 0, 0] };

/** An image one pixel high whose red channel is `values` (green and blue zero). */
function row(values: number[]): Uint8Array {
  const image = new Uint8Array(values.length * 3);
  values.forEach((value, i) => (image[i * 3] = value));
  return image;
}

describe('PIL-style bilinear resampling', () => {
  it('has weights summing to one and keeps an image at its own size unchanged', () => {
    const coefficients = resampleCoefficients(37, 0, 37, 11);
    for (let i = 0; i < 11; i++) {
      let total = 0;
      for (let k = 0; k < coefficients.counts[i]!; k++) total += coefficients.weights[i * coefficients.stride + k]!;
      expect(total).toBeCloseTo(1, 6);
    }
    const values = [10, 20, 200, 7, 90];
    const out = new Float32Array(15);
    resample(row(values), 0, 5, resampleCoefficients(1, 0, 1, 1), resampleCoefficients(5, 0, 5, 5), out, 0, identity.scale, identity.bias);
    expect(Array.from(out.filter((_, i) => i % 3 === 0))).toEqual(values);
  });

  it('halves [0, 10, 20, 30] to the antialiased values PIL computes by hand', () => {
    // Scale 2: support 2, output 0 centred at 1 reads inputs 0..2 with triangle weights 0.75, 0.75, 0.25 (÷1.75).
    const out = new Float32Array(6);
    resample(row([0, 10, 20, 30]), 0, 4, resampleCoefficients(1, 0, 1, 1), resampleCoefficients(4, 0, 4, 2), out, 0, identity.scale, identity.bias);
    expect(out[0]).toBeCloseTo((10 * 0.75 + 20 * 0.25) / 1.75, 5);
    // Output 1 centred at 3 reads inputs 1..3 with weights 0.25, 0.75, 0.75.
    expect(out[3]).toBeCloseTo((10 * 0.25 + 20 * 0.75 + 30 * 0.75) / 1.75, 5);
  });

  it('doubles [0, 100] by interpolating between pixel centres', () => {
    // Scale 0.5: output centres at 0.25, 0.75, 1.25, 1.75 → 0, 25, 75, 100 (edges clamp).
    const out = new Float32Array(12);
    resample(row([0, 100]), 0, 2, resampleCoefficients(1, 0, 1, 1), resampleCoefficients(2, 0, 2, 4), out, 0, identity.scale, identity.bias);
    expect(Array.from(out.filter((_, i) => i % 3 === 0)).map((value) => Math.round(value * 1000) / 1000)).toEqual([0, 25, 75, 100]);
  });

  it('flips with reversed column coefficients', () => {
    const out = new Float32Array(9);
    resample(row([1, 2, 3]), 0, 3, resampleCoefficients(1, 0, 1, 1), reversed(resampleCoefficients(3, 0, 3, 3)), out, 0, identity.scale, identity.bias);
    expect([out[0], out[3], out[6]]).toEqual([3, 2, 1]);
  });

  it('gives the same result whatever was resampled before (its scratch rows are rewritten each call)', () => {
    const small = () => {
      const out = new Float32Array(6);
      resample(row([0, 10, 20, 30]), 0, 4, resampleCoefficients(1, 0, 1, 1), resampleCoefficients(4, 0, 4, 2), out, 0, identity.scale, identity.bias);
      return out;
    };
    const first = small();
    // A larger image in between, of other values: 40 rows of 255s, enlarged to 60×60.
    const large = new Uint8Array(40 * 40 * 3).fill(255);
    resample(large, 0, 40, resampleCoefficients(40, 0, 40, 60), resampleCoefficients(40, 0, 40, 60), new Float32Array(60 * 60 * 3), 0, identity.scale, identity.bias);
    expect(Array.from(small())).toEqual(Array.from(first));
    expect(first[0]).toBeCloseTo((10 * 0.75 + 20 * 0.25) / 1.75, 5);
  });
});

describe('RandomResizedCrop parameters', () => {
  const transform = { kind: 'random-resized-crop', size: 224, scale: [0.08, 1], ratio: [3 / 4, 4 / 3], flip: true } as const;

  it('keeps every box inside the image, with area and aspect in range when not falling back', () => {
    let seed = 1;
    const uniform = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 500; trial++) {
      const [height, width] = [50 + Math.floor(uniform() * 400), 50 + Math.floor(uniform() * 400)];
      const draws = new Draws(Float64Array.from({ length: 23 }, uniform));
      const box = drawResizedCrop(transform, height, width, draws);
      expect(box.top).toBeGreaterThanOrEqual(0);
      expect(box.left).toBeGreaterThanOrEqual(0);
      expect(box.top + box.height).toBeLessThanOrEqual(height);
      expect(box.left + box.width).toBeLessThanOrEqual(width);
      expect(box.height * box.width).toBeGreaterThanOrEqual(0.07 * height * width);
    }
  });

  it('falls back to the centre, aspect clamped, when no try fits', () => {
    // Every area draw at the top of the range and aspects at the extreme: a 100×10 image never fits.
    const draws = new Draws(Float64Array.from({ length: 23 }, (_, i) => (i < 20 ? (i % 2 === 0 ? 0.999 : 0.999) : 0.5)));
    const box = drawResizedCrop(transform, 100, 10, draws);
    // Aspect 10/100 < 3/4: width stays 10, height = round(10 / (3/4)) = 13, centred.
    expect(box).toEqual({ top: Math.floor((100 - 13) / 2), left: 0, height: 13, width: 10 });
  });
});
