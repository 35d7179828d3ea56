import { describe, expect, it } from 'vitest';
import { AugLocalConfigError } from './errors.js';
import { auxiliaryBlocks, pyramidDepths, roundHalfToEven, selectSubsequentLayers } from './layer-selection.js';

/** ResNet-32's layers (stem, then 15 blocks): the widths the authors list as `net_dim`. */
const RESNET32_WIDTHS = [16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32, 64, 64, 64, 64, 64];

describe('roundHalfToEven (Python round)', () => {
  it('rounds halves to the even neighbour and everything else to the nearest integer', () => {
    expect([0.5, 1.5, 2.5, 8.5, 10.5, 11.5].map(roundHalfToEven)).toEqual([0, 2, 2, 8, 10, 12]);
    expect([2.4999, 2.5001, 1.6667, 2.3333, 7, 0].map(roundHalfToEven)).toEqual([2, 3, 2, 2, 7, 0]);
  });
});

describe('pyramidDepths: d_i = max(1, round(d(1 - iτ/(K-2)) + iτ/(K-2))), i = 0..K-2', () => {
  it('falls linearly from d at module 0 to d(1-τ)+τ at module K-2', () => {
    // K = 5, d = 3, τ = 1: 3, 3·2/3 + 1/3 = 2.33 -> 2, 3·1/3 + 2/3 = 1.67 -> 2, 1.
    expect(pyramidDepths(5, 3, 1)).toEqual([3, 2, 2, 1]);
    // K = 6, d = 3, τ = 0.5: 3, 2.75 -> 3, 2.5 -> 2 (half to even), 2.25 -> 2, 2.
    expect(pyramidDepths(6, 3, 0.5)).toEqual([3, 3, 2, 2, 2]);
    // K = 4, d = 4, τ = 1: 4, 2.5 -> 2, 1.
    expect(pyramidDepths(4, 4, 1)).toEqual([4, 2, 1]);
  });

  it("the authors' ResNet-32 command (K = 16, d = 2, τ = 0.5: 14 modules) keeps depth 2 everywhere (1.5 rounds to 2)", () => {
    expect(pyramidDepths(14, 2, 0.5)).toEqual(new Array(13).fill(2));
  });

  it('τ = 0 keeps every module at d; K = 2 has one network of depth d; the last module has none', () => {
    expect(pyramidDepths(8, 3, 0)).toEqual(new Array(7).fill(3));
    expect(pyramidDepths(2, 5, 0.5)).toEqual([5]);
    expect(pyramidDepths(1, 2, 0.5)).toEqual([]);
  });
});

describe('selectSubsequentLayers: round(l + (N - l - 1)/d · j), j = 1..d', () => {
  it('spreads the selection over the later layers and always ends with the last', () => {
    expect(selectSubsequentLayers(0, 16, 3)).toEqual([5, 10, 15]);
    expect(selectSubsequentLayers(1, 16, 2)).toEqual([8, 15]);
    // 2 + 13/2 = 8.5 -> 8; 6 + 9/2 = 10.5 -> 10 (the last 32-wide layer, where half-up would take layer 11, 64 wide).
    expect(selectSubsequentLayers(2, 16, 2)).toEqual([8, 15]);
    expect(selectSubsequentLayers(6, 16, 2)).toEqual([10, 15]);
    expect(selectSubsequentLayers(0, 16, 1)).toEqual([15]);
  });

  it('takes every later layer when there are no more than d of them, none after the last layer', () => {
    expect(selectSubsequentLayers(13, 16, 3)).toEqual([14, 15]);
    expect(selectSubsequentLayers(12, 16, 3)).toEqual([13, 14, 15]);
    expect(selectSubsequentLayers(15, 16, 2)).toEqual([]);
  });

  it('needs a positive integer depth', () => {
    expect(() => selectSubsequentLayers(0, 16, 0)).toThrow(AugLocalConfigError);
  });
});

describe('auxiliaryBlocks: one basic block per selected layer, halving the map once per doubling of the width', () => {
  it('ResNet-32 module 0 at depth 3: 16 -> 16, 16 -> 32 /2, 32 -> 64 /2', () => {
    const blocks = auxiliaryBlocks(16, RESNET32_WIDTHS, [5, 10, 15]);
    expect(blocks).toEqual([
      { layer: 5, inputChannels: 16, outputChannels: 16, stride: 1 },
      { layer: 10, inputChannels: 16, outputChannels: 32, stride: 2 },
      { layer: 15, inputChannels: 32, outputChannels: 64, stride: 2 },
    ]);
  });

  it('a jump of two doublings halves once here and once in the next block; a debt left at the end is dropped', () => {
    expect(auxiliaryBlocks(16, RESNET32_WIDTHS, [11, 15]).map((b) => b.stride)).toEqual([2, 2]);
    expect(auxiliaryBlocks(16, RESNET32_WIDTHS, [15]).map((b) => [b.outputChannels, b.stride])).toEqual([[64, 2]]);
    expect(auxiliaryBlocks(64, RESNET32_WIDTHS, [])).toEqual([]);
  });

  it('refuses widths that shrink', () => {
    expect(() => auxiliaryBlocks(64, RESNET32_WIDTHS, [5])).toThrow(/layer 5 has 16 channels, fewer than the 64/);
  });
});
