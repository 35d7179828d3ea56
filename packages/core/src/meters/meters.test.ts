import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { heldBufferBytes, measureMemory, isMemorySampledStep } from './meters.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('measureMemory', () => {
  it('counts a data buffer once however many handles share it, and only what the function adds', async () => {
    const existing = tf.zeros([1000]); // 4000 bytes alive before: not counted as allocation
    const { memory } = await measureMemory(() => {
      const a = tf.ones([1000]); // +4000
      const clones = [a.clone(), a.clone(), existing.clone()]; // shared data: +0
      const b = tf.add(a, a); // +4000 -> peak 8000
      a.dispose();
      clones.forEach((c) => c.dispose()); // a's buffer freed with its last handle: 4000
      const c = tf.mul(b, b); // +4000 -> 8000 again, not more
      b.dispose();
      c.dispose();
    });
    expect(memory.peakBufferAllocationBytes).toBe(8000);
    // tfjs's own count charges every clone: 4000 + 4000 (a) + 3 * 4000 + 4000 (b).
    expect(memory.peakTensorBytes - memory.baselineTensorBytes).toBe(20000);
    expect(memory.newTensors).toBe(0);
    existing.dispose();
  });
});

describe('heldBufferBytes', () => {
  it('counts the distinct buffers a function leaves alive, not those it freed or shared', () => {
    const existing = tf.zeros([100]);
    const { result, bytes } = heldBufferBytes(() => {
      const a = tf.ones([100]); // kept: +400
      const shared = [a.clone(), existing.clone()]; // no new data
      const temporary = tf.add(a, a); // freed below
      temporary.dispose();
      return [a, ...shared, tf.mul(a, 2)]; // + 400
    });
    expect(bytes).toBe(800);
    tf.dispose([...result, existing]);
  });
});

describe('isMemorySampledStep', () => {
  it('samples step 1 and every n after it, never with 0, and the only step of a one-step run', () => {
    const sampled = (every: number, steps = Infinity, count = 12) => Array.from({ length: count }, (_, index) => index).filter((index) => isMemorySampledStep(index, every, steps));
    expect(sampled(5)).toEqual([1, 6, 11]);
    expect(sampled(1)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(sampled(0)).toEqual([]);
    // Fewer steps than --memory-every: step 1 is still sampled; a run of one step samples step 0.
    expect(sampled(50, 3, 3)).toEqual([1]);
    expect(sampled(50, 1, 1)).toEqual([0]);
    expect(sampled(0, 1, 1)).toEqual([]);
  });
});
