/**
 * Run by wasm-threads.test.ts in a fresh Node process (the wasm thread count is fixed once the
 * backend starts, and the test runner's process may already have started it):
 *   node --import tsx src/backend/wasm-threads.fixture.ts <threads> [--without-shared-memory]
 * Prints one JSON line: what selectBackend reported, the XNNPACK thread count, and how far a
 * conv2d training step on wasm is from the same step on cpu. Exits by itself: the pool's worker
 * threads must not keep the process alive. --without-shared-memory removes SharedArrayBuffer first,
 * as in a browser page without cross-origin isolation, to exercise the single-threaded fallback.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { relativeMaxError } from '../kernels/cross-backend.test-helpers.js';
import { selectBackend } from './select-backend.js';

const threads = Number(process.argv[2] ?? 2);
if (process.argv.includes('--without-shared-memory')) {
  delete (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer;
}
const logLines: string[] = [];
const selected = await selectBackend('wasm', { wasmThreads: threads, log: (line) => logLines.push(line) });
const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { getThreadsCount(): number };

function convStep(): Float32Array[] {
  const x = tf.tensor4d(Float32Array.from({ length: 4 * 12 * 12 * 8 }, (_, i) => Math.sin(i)), [4, 12, 12, 8]);
  const filter = tf.tensor4d(Float32Array.from({ length: 3 * 3 * 8 * 16 }, (_, i) => Math.cos(i)), [3, 3, 8, 16]);
  const outputs = tf.tidy(() => {
    const loss = (input: tf.Tensor, kernel: tf.Tensor) =>
      tf.sum(tf.square(tf.conv2d(input as tf.Tensor4D, kernel as tf.Tensor4D, 2, 'same')));
    return [loss(x, filter), ...tf.grads(loss)([x, filter])];
  });
  const values = outputs.map((tensor) => tensor.dataSync() as Float32Array);
  tf.dispose([x, filter, ...outputs]);
  return values;
}

const onWasm = convStep();
await tf.setBackend('cpu');
const onCpu = convStep();
console.log(
  JSON.stringify({
    selected,
    threadsCount: wasm.getThreadsCount(),
    log: logLines,
    maxRelativeError: Math.max(...onWasm.map((values, index) => relativeMaxError(values, onCpu[index]!))),
  }),
);
