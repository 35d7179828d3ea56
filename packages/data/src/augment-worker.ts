/**
 * The worker-thread entry of the loader: it rebuilds the sample source from `workerData` (the
 * images arrive as a SharedArrayBuffer, not a copy) and answers batch requests with the prepared
 * inputs, transferring the Float32Array back. It imports only the pipeline (no tfjs, no
 * @mlaan/core), so it starts in a few milliseconds.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ImageFileProblem } from './image/jpeg.js';
import { type BatchRequest, type SampleSourceDescription, createSampleSource, prepareInputs } from './pipeline.js';

export interface WorkerRequest extends BatchRequest {
  id: number;
}

export type WorkerReply =
  | { id: number; inputs: Float32Array }
  | { id: number; error: SerializedError };

export interface SerializedError {
  message: string;
  problem?: { kind: ImageFileProblem['kind']; file: string; expected: string; found: string };
}

const source = createSampleSource(workerData as SampleSourceDescription);

parentPort!.on('message', (request: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    const inputs = prepareInputs(source, request);
    parentPort!.postMessage({ id: request.id, inputs } satisfies WorkerReply, [inputs.buffer as ArrayBuffer]);
    return;
  } catch (error) {
    const { message } = error as Error;
    const problem = error instanceof ImageFileProblem ? { kind: error.kind, file: error.file, expected: error.expected, found: error.found } : undefined;
    reply = { id: request.id, error: { message, problem } };
  }
  parentPort!.postMessage(reply);
});
