// The entry of a pipeline worker thread: builds its stage from `workerData` (a `StageInit`), then
// takes batches from upstream in order, steps them, and passes each output downstream once the
// next stage has room. Every failure is reported to the main thread, which stops the run.
// tfjs-core registers gradient functions only on request, and a worker trains: register them all,
// as core's index does (importing the index itself for that is dropped by the bundler, since the
// package declares only dist/index.js as having side effects).
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { parentPort, workerData } from 'node:worker_threads';
import { AsyncQueue, CreditGate } from './flow-control.js';
import type { WireCotangent } from './cotangent-exchange.js';
import type { BatchMessage, CotangentMessage, CreditMessage, StageInit, StageReport, StageRequest, TensorRecord, WeightsMessage } from './messages.js';
import { PipelineStage, type StageLinks } from './stage.js';

const init = workerData as StageInit;
const port = parentPort!;
const report = (message: StageReport, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

function fail(error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  report({ type: 'failed', message: e.message, stack: e.stack });
  // The main thread terminates every worker; nothing more runs here.
  init.upstream.close();
  init.downstream?.close();
}

async function run(): Promise<void> {
  const stage = await PipelineStage.create(init.recipe, init.first, init.end, init.exchange, init.memoryEvery);
  const inbox = new AsyncQueue<BatchMessage>();
  const room = new CreditGate(init.capacity);
  init.upstream.on('message', (message: BatchMessage) => inbox.push(message));
  const cotangents = new Map<number, WireCotangent[]>();
  let cotangentWaiter: { index: number; resolve: (terms: WireCotangent[]) => void } | undefined;
  // Later stages' weights by step, for the replicas (stateful stages): relayed on upstream too.
  const weights = new Map<number, Map<number, TensorRecord[]>>();
  const laterStages = init.stageCount - 1 - init.stage;
  let weightsWaiter: { index: number; resolve: () => void } | undefined;
  const weightsReady = (index: number) => (weights.get(index)?.size ?? 0) === laterStages;
  const laterWeights = (index: number) =>
    new Promise<void>((resolve) => {
      const apply = () => {
        for (const records of weights.get(index)!.values()) stage.refresh(records);
        for (const key of [...weights.keys()]) if (key <= index) weights.delete(key);
        resolve();
      };
      if (weightsReady(index)) apply();
      else weightsWaiter = { index, resolve: apply };
    });
  init.downstream?.on('message', (message: CreditMessage | CotangentMessage | WeightsMessage) => {
    if (message.type === 'credit') room.release();
    else if (message.type === 'weights') {
      if (init.stage > 0) init.upstream.postMessage(message);
      const byStage = weights.get(message.index) ?? new Map<number, TensorRecord[]>();
      byStage.set(message.stage, message.records);
      weights.set(message.index, byStage);
      if (weightsWaiter && weightsReady(weightsWaiter.index)) {
        const { resolve } = weightsWaiter;
        weightsWaiter = undefined;
        resolve();
      }
    } else if (cotangentWaiter?.index === message.index) {
      cotangentWaiter.resolve(message.terms);
      cotangentWaiter = undefined;
    } else cotangents.set(message.index, message.terms);
  });
  const receive = (index: number) =>
    new Promise<WireCotangent[]>((resolve) => {
      const ready = cotangents.get(index);
      if (ready) {
        cotangents.delete(index);
        resolve(ready);
      } else cotangentWaiter = { index, resolve };
    });
  const links: StageLinks = {
    async send(next, transfer) {
      const blocked = performance.now();
      await room.acquire();
      stage.meters.waitingOutputMs += performance.now() - blocked;
      init.downstream!.postMessage(next, transfer);
    },
    receive,
    sendUpstream(index, terms) {
      const reply: CotangentMessage = { type: 'cotangents', index, terms };
      init.upstream.postMessage(reply, terms.map((t) => t.data.buffer as ArrayBuffer));
    },
    laterWeights,
  };
  port.on('message', (request: StageRequest) => {
    try {
      if (request.type === 'gather') {
        stage.gather().then(({ variables, momentum }) => {
          const buffers = [...variables, ...momentum].map((r) => r.data.buffer as ArrayBuffer);
          report({ type: 'gathered', request: request.request, variables, momentum }, buffers);
        }, fail);
      } else if (request.type === 'scatter') {
        stage.scatter(request.variables, request.momentum);
        stage.resetExchange();
        cotangents.clear();
        weights.clear();
        report({ type: 'scattered', request: request.request });
      }
    } catch (error) {
      fail(error);
    }
  });
  report({ type: 'ready', meters: stage.meters });
  for (;;) {
    const waitStarted = performance.now();
    const message = await inbox.next();
    stage.meters.waitingInputMs += performance.now() - waitStarted;
    stage.meters.peakQueued = Math.max(stage.meters.peakQueued, inbox.peak);
    init.upstream.postMessage({ type: 'credit' } satisfies CreditMessage);
    const { losses, loss, batchSize } = await stage.step(message, links);
    if (stage.stateful && init.stage > 0) {
      const records = await stage.moduleRecords();
      const update: WeightsMessage = { type: 'weights', index: message.index, stage: init.stage, records };
      init.upstream.postMessage(update, records.map((r) => r.data.buffer as ArrayBuffer));
    }
    report({ type: 'stepped', index: message.index, losses, loss, batchSize, meters: stage.meters });
  }
}

run().catch(fail);
