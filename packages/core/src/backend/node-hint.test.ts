import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { selectBackend } from './select-backend.js';
import { silenceNodeBackendHint } from './node-hint.js';

const HINT = /looks like you are running TensorFlow\.js in Node\.js/;

function hintsPrintedWhile(action: () => void): number {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    action();
    return warn.mock.calls.filter((call) => call.some((part) => HINT.test(String(part)))).length;
  } finally {
    warn.mockRestore();
  }
}

afterEach(() => {
  for (const name of ['hint-probe', 'hint-probe-silenced']) if (tf.findBackend(name)) tf.removeBackend(name);
});

describe("tfjs's Node.js backend hint", () => {
  it('is printed by a fresh cpu backend on its first tensor (the condition this guards)', async () => {
    tf.registerBackend('hint-probe', () => new MathBackendCPU());
    await tf.setBackend('hint-probe');
    expect(hintsPrintedWhile(() => tf.tensor([1, 2]).dispose())).toBe(1);
  });

  it('is not printed once the backend was chosen: silenceNodeBackendHint, and selectBackend', async () => {
    tf.registerBackend('hint-probe-silenced', () => new MathBackendCPU());
    await tf.setBackend('hint-probe-silenced');
    silenceNodeBackendHint();
    expect(hintsPrintedWhile(() => tf.tensor([1, 2]).dispose())).toBe(0);

    await selectBackend('cpu', { log: () => {} });
    expect(hintsPrintedWhile(() => tf.tensor([3, 4]).dispose())).toBe(0);
  });
});
