import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ReLU, Residual, ReluTieBreaker, setReluTieBreaker, TRAIN } from '../index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterEach(() => {
  setReluTieBreaker(undefined);
});

/** Overrides element `index` of every evaluation with `mask`, and counts evaluations. */
function breaker(index: number, mask: 0 | 1): ReluTieBreaker & { seen: number[][] } {
  const seen: number[][] = [];
  return {
    seen,
    inspect(input) {
      seen.push(Array.from(input.dataSync()));
      return { indices: Int32Array.of(index), mask: Uint8Array.of(mask) };
    },
  };
}

describe('ReLU tie breaker', () => {
  const x = tf.tensor1d([-1e-7, 2, -3, 1e-7]);
  const dy = tf.tensor1d([10, 20, 30, 40]);

  it('without one, ReLU is tf.relu and its derivative is input > 0', () => {
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(new ReLU().apply(v), dy)))(x);
    expect(Array.from(g.dataSync())).toEqual([0, 20, 0, 40]);
    const a = new ReLU().forward(x);
    expect(Array.from(a.backward(dy, { input: true, parameters: false }).input!.dataSync())).toEqual([0, 20, 0, 40]);
    a.dispose();
  });

  it('overrides the derivative at the given elements, under autograd and traced, and leaves the value alone', () => {
    setReluTieBreaker(breaker(0, 1));
    const layer = new ReLU();
    const { value, grads } = tf.valueAndGrads((v: tf.Tensor) => tf.sum(tf.mul(layer.apply(v), dy)))([x]);
    expect(value.dataSync()[0]).toBeCloseTo(20 * 2 + 40 * 1e-7, 5);
    expect(Array.from(grads[0]!.dataSync())).toEqual([10, 20, 0, 40]);
    setReluTieBreaker(breaker(3, 0));
    const a = layer.forward(x);
    expect(Array.from(a.output.dataSync())).toEqual(Array.from(tf.relu(x).dataSync()));
    expect(Array.from(a.backward(dy, { input: true, parameters: false }).input!.dataSync())).toEqual([0, 20, 0, 0]);
    a.dispose();
  });

  it("covers Residual's closing ReLU in both paths, one evaluation per call, and frees its mask", () => {
    const block = new Residual({ main: [['relu', new ReLU()]] });
    const b = breaker(0, 1);
    setReluTieBreaker(b);
    // main: relu(x); sum = relu(x) + x; closing relu at index 0 sees -1e-7 (+0): forced through.
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(block.apply(v, TRAIN), dy)))(x);
    expect(b.seen.length).toBe(2);
    // d/dx of relu(relu(x) + x) at element 0 with both masks forced to 1: 10 * (1 + 1).
    expect(g.dataSync()[0]).toBe(20);
    const before = tf.memory().numTensors;
    const a = block.forward(x, TRAIN);
    const traced = a.backward(dy, { input: true, parameters: true }).input!;
    expect(traced.dataSync()[0]).toBe(20);
    traced.dispose();
    a.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(b.seen.length).toBe(4);
  });

  it('rejects an index outside the input', () => {
    setReluTieBreaker(breaker(9, 1));
    expect(() => new ReLU().forward(x)).toThrow(/outside the input's 4 elements/);
  });
});
