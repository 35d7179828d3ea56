/**
 * The worker-thread entry of the loader: it rebuilds the sample source from `workerData` (the
 * images arrive as a SharedArrayBuffer, not a copy) and answers batch requests with the prepared
 * inputs, transferring the Float32Array back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type BatchRequest, type SampleSourceDescription, createSampleSource, prepareInputs } from './pipeline.js';
import { DataError } from './errors.js';

export interface WorkerRequest extends BatchRequest {
  id: number;
}

export type WorkerReply =
  | { id: number; inputs: Float32Array }
  | { id: number; error: { name: string; message: string; file?: string; expected?: string; found?: string } };

const source = createSampleSource(workerData as SampleSourceDescription);

parentPort!.on('message', (request: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    const inputs = prepareInputs(source, request);
    parentPort!.postMessage({ id: request.id, inputs } satisfies WorkerReply, [inputs.buffer as ArrayBuffer]);
    return;
  } catch (error) {
    const { name, message } = error as Error;
    const details = error instanceof DataError ? { file: error.file, expected: error.expected, found: error.found } : {};
    reply = { id: request.id, error: { name, message, ...details } };
  }
  parentPort!.postMessage(reply);
});
