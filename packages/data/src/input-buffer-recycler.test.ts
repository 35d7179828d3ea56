import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputBufferRecycler } from './input-buffer-recycler.js';

/** A batch's inputs array and the tensor made from it, as the loader makes them. */
function lentBatch(recycler: InputBufferRecycler, length = 12): { values: Float32Array; tensor: tf.Tensor } {
  const values = new Float32Array(length).fill(1);
  const tensor = tf.tensor4d(values, [1, 1, length / 3, 3], 'float32');
  recycler.lend(values, tensor);
  return { values, tensor };
}

describe('InputBufferRecycler', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('gives an array back only after its tensor is disposed', () => {
    const recycler = new InputBufferRecycler(4);
    const { values, tensor } = lentBatch(recycler);
    expect(recycler.take(48)).toBeUndefined();
    tensor.dispose();
    expect(recycler.take(48)).toBe(values.buffer);
    // Taken once: it is the caller's now.
    expect(recycler.take(48)).toBeUndefined();
  });

  it('waits for every tensor sharing the data (a reshape, a clone)', () => {
    const recycler = new InputBufferRecycler(4);
    const { values, tensor } = lentBatch(recycler);
    const reshaped = tf.reshape(tensor, [4, 3]);
    const cloned = tf.clone(tensor);
    tensor.dispose();
    expect(recycler.take(48)).toBeUndefined();
    reshaped.dispose();
    expect(recycler.take(48)).toBeUndefined();
    cloned.dispose();
    expect(recycler.take(48)).toBe(values.buffer);
  });

  it('forgets released arrays too small for the batch asked for, and remembers at most `keep`', () => {
    const recycler = new InputBufferRecycler(2);
    const small = lentBatch(recycler, 6);
    small.tensor.dispose();
    expect(recycler.take(48)).toBeUndefined();
    expect(recycler.take(24)).toBeUndefined();

    const first = lentBatch(recycler);
    const second = lentBatch(recycler);
    const third = lentBatch(recycler);
    tf.dispose([first.tensor, second.tensor, third.tensor]);
    expect(recycler.take(48)).toBe(second.values.buffer);
    expect(recycler.take(48)).toBe(third.values.buffer);
    expect(recycler.take(48)).toBeUndefined();
  });
});
