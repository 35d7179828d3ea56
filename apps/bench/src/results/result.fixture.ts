import { configId } from '../configuration/configuration-id.js';
import { methodLabel } from '../configuration/labels.js';
import type { RunConfig } from '../configuration/settings.js';
import { describeMachine } from '../machine.js';
import { type RunResult, RESULT_VERSION } from './result-format.js';

/** A result with the given numbers; everything else as a finished one-epoch run would have it. */
export function result(config: RunConfig, modules: number, bestError: number, peakBytes: number, imagesPerSecond: number): RunResult {
  return {
    format: 'mlaan-bench-result',
    version: RESULT_VERSION,
    id: configId(config),
    method: methodLabel(config),
    config,
    modules,
    status: 'completed',
    backend: { choice: 'cpu', tfjsBackend: 'cpu', description: 'plain JavaScript' },
    schedule: 'keep',
    trainImages: 100,
    testImages: 50,
    parameters: { total: 1000, backbone: 800, auxiliary: 200, auxiliaryByOwner: { dgl: 200 }, auxiliaryBuffers: 0 },
    testErrorPercent: { best: bestError, bestEpoch: 1, last: bestError + 1 },
    lastTestLoss: 2,
    lastTrainLoss: 2.2,
    memory: {
      step: { stepPeakBytes: peakBytes, stateBytes: peakBytes / 4, stepAllocationBytes: (3 * peakBytes) / 4, peakTensorHandleBytes: peakBytes, tensorBytesOnGpu: false, sampledSteps: 1 },
      data: { datasetBytes: 2 ** 20, tensorsOutsideTrainerBytes: 0, tensorsLeftByEvaluation: 0 },
      process: { peakRssBytes: 2 ** 30, backendFields: {} },
    },
    throughput: { imagesPerSecond, measuredSteps: 3, meanStepMs: 100 },
    wallSeconds: 12,
    trainSeconds: 10,
    evalSeconds: 1,
    epochs: [{ epoch: 1, learningRate: 0.1, trainLoss: 2.2, moduleLosses: { 'dgl/0': 2.3, 'dgl/1': 2.2 }, testErrorPercent: bestError, testLoss: 2, seconds: 12, imagesPerSecond }],
    warning: null,
    lossCurve: [
      { epoch: 0.5, step: 2, loss: 2.3 },
      { epoch: 1, step: 4, loss: 2.2 },
    ],
    sessions: 1,
    command: 'mlaan-bench ablation --test',
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:00:12.000Z',
    machine: describeMachine(),
    provenance: { gitCommit: 'abc123', gitDirty: false, packages: { '@mlaan/core': '0.1.0' }, node: 'v20' },
  };
}

