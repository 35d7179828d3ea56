/**
 * The worker-thread entry of the loader: it rebuilds the sample source from `workerData` (the
 * images arrive as a SharedArrayBuffer, not a copy) and answers batch requests with the prepared
 * inputs, transferring the Float32Array back. It imports only the pipeline (no tfjs, no
 * @mlaan/core), so it starts in a few milliseconds. With the sharp decoder a worker answers
 * asynchronously: libvips decodes on libuv's threads while this thread converts pixels to floats.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ImageFileProblem } from './image/jpeg.js';
import { loadSharp } from './image/sharp.js';
import { prepareBatchWithSharp } from './native-pipeline.js';
import { type BatchRequest, type BatchSourceDescription, type PreparedInputs, type SkippedImage, createSampleSource, prepareBatch } from './pipeline.js';

export interface WorkerRequest extends BatchRequest {
  id: number;
  /** The buffer of a batch the loader's caller has disposed, transferred here to be written again (reuseInputBuffers). */
  reused?: ArrayBuffer;
}

export type WorkerReply =
  | { id: number; inputs: Float32Array; skipped: SkippedImage[] }
  | { id: number; error: SerializedError };

export interface SerializedError {
  message: string;
  problem?: { kind: ImageFileProblem['kind']; file: string; expected: string; found: string };
}

const description = workerData as BatchSourceDescription;
const source = createSampleSource(description);
// The main thread loaded sharp before starting this worker (sharp asks for that on glibc Linux).
const sharp = description.kind === 'files' && description.decoder === 'sharp' ? loadSharp() : undefined;

function prepare(request: WorkerRequest): PreparedInputs | Promise<PreparedInputs> {
  if (description.kind === 'files' && sharp) {
    if (!('sharp' in sharp)) throw new Error(`sharp loaded on the main thread but not in a worker: ${sharp.problem}`);
    return prepareBatchWithSharp(sharp.sharp, description.files, request, request.reused);
  }
  return prepareBatch(source, request, request.reused);
}

async function answer(request: WorkerRequest): Promise<void> {
  let reply: WorkerReply;
  try {
    const { inputs, skipped } = await prepare(request);
    parentPort!.postMessage({ id: request.id, inputs, skipped } satisfies WorkerReply, [inputs.buffer as ArrayBuffer]);
    return;
  } catch (error) {
    const { message } = error as Error;
    const problem = error instanceof ImageFileProblem ? { kind: error.kind, file: error.file, expected: error.expected, found: error.found } : undefined;
    reply = { id: request.id, error: { message, problem } };
  }
  parentPort!.postMessage(reply);
}

// One batch at a time, in the order asked: the sharp path would otherwise interleave every queued
// batch, so each arrived later (and held its buffer longer) for the same throughput.
let previous = Promise.resolve();
parentPort!.on('message', (request: WorkerRequest) => {
  previous = previous.then(() => answer(request));
});
