import { describe, expect, it } from 'vitest';
import { createReporter, formatDuration, stepMemoryLabel } from './progress.js';

function capture(isTTY: boolean) {
  const chunks: string[] = [];
  return { output: { isTTY, columns: 200, write: (text: string) => chunks.push(text) }, text: () => chunks.join(''), chunks };
}

const header = { index: 2, total: 3, id: 'cifar10-resnet32-dgl-none-k4-s0-abcdef12', label: 'DGL K=4 seed 0' };
const record = { epoch: 1, learningRate: 0.05, trainLoss: 2.1234, moduleLosses: {}, testErrorPercent: 71.25, testLoss: 2, seconds: 65, imagesPerSecond: 15.5 };

describe('formatDuration', () => {
  it('prints m:ss, h:mm:ss, and --:-- for unknown', () => {
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(NaN)).toBe('--:--');
  });
});

describe('reporters', () => {
  it('auto without a terminal writes one plain line per run start and epoch, no control characters', () => {
    const sink = capture(false);
    const reporter = createReporter('auto', sink.output);
    const observer = reporter.observer(header);
    observer.started({ epochs: 1, batches: 16, resumedAt: { epoch: 0, batch: 8 } });
    for (let batch = 9; batch <= 16; batch++) observer.step({ epoch: 0, epochs: 1, batch, batches: 16, loss: 2, imagesPerSecond: 15, etaSeconds: 10 });
    observer.evaluating(0);
    observer.epochDone(record, 0);
    const lines = sink.text().trimEnd().split('\n');
    expect(lines).toEqual([
      '[2/3] DGL K=4 seed 0 · 1 epoch(s) × 16 batches · resuming at epoch 1, batch 9',
      '[2/3] DGL K=4 seed 0 · epoch 1/1 · lr 0.0500 · train loss 2.1234 · test error 71.25% · 15.5 img/s · 1:05',
    ]);
    expect(sink.text()).not.toMatch(/[\r\x1b]/);
  });

  it('auto on a terminal redraws one bar line in place with epoch, batch, loss, speed and ETA', () => {
    const sink = capture(true);
    const reporter = createReporter('auto', sink.output);
    const observer = reporter.observer(header);
    observer.started({ epochs: 2, batches: 4 });
    observer.step({ epoch: 0, epochs: 2, batch: 4, batches: 4, loss: 2.5, imagesPerSecond: 123.4, etaSeconds: 75 });
    const bar = sink.chunks.find((chunk) => chunk.includes('█'))!;
    expect(bar.startsWith('\r\x1b[2K')).toBe(true);
    expect(bar).toContain('epoch 1/2');
    expect(bar).toContain('4/4');
    expect(bar).toContain('loss 2.5000');
    expect(bar).toContain('123 img/s');
    expect(bar).toContain('ETA 1:15');
    // On a narrow terminal the label gives way, the numbers stay.
    const narrow = capture(true);
    narrow.output.columns = 60;
    const narrowObserver = createReporter('bar', narrow.output).observer(header);
    narrowObserver.step({ epoch: 0, epochs: 2, batch: 4, batches: 4, loss: 2.5, imagesPerSecond: 123.4, etaSeconds: 75 });
    const line = narrow.chunks.at(-1)!.replace('\r\x1b[2K', '');
    expect(line.length).toBeLessThanOrEqual(59);
    expect(line).toContain('ETA 1:15');
    observer.epochDone(record, 30);
    reporter.close();
    // The bar is cleared before the epoch line, so the line is not glued to it.
    expect(sink.text()).toContain('\r\x1b[2K[2/3] DGL K=4 seed 0 · epoch 1/2');
  });

  it('labels step memory per worker for a pipelined run and never prints an unmeasured 0', () => {
    const MiB = 2 ** 20;
    const step = { stepPeakBytes: 95 * MiB, stateBytes: 5 * MiB, stepAllocationBytes: 90 * MiB, peakTensorHandleBytes: 120 * MiB, tensorBytesOnGpu: false, sampledSteps: 1 };
    expect(stepMemoryLabel(step)).toBe('step memory 95 MiB');
    const worker = (index: number, bytes: number) => ({ worker: index, modules: [index, index + 1] as [number, number], stepPeakBytes: bytes, stateBytes: MiB, stepAllocationBytes: bytes - MiB, sampledSteps: 1 });
    const pipelined = { ...step, peakTensorHandleBytes: null, workers: { count: 2, stepPeakBytesSum: 155 * MiB, perWorker: [worker(0, 95 * MiB), worker(1, 60 * MiB)] } };
    expect(stepMemoryLabel(pipelined)).toBe('step memory 95 MiB per worker (largest of 2; 155 MiB over all)');
    // The reason names --memory-every only when the user set it to 0.
    expect(stepMemoryLabel({ ...step, stepPeakBytes: 0, sampledSteps: 0, sampleEvery: 0 })).toBe('step memory not measured (--memory-every 0)');
    expect(stepMemoryLabel({ ...step, stepPeakBytes: 0, sampledSteps: 0, sampleEvery: 50 })).toBe('step memory not measured (no step of this run was sampled)');
    expect(stepMemoryLabel({ ...step, stepPeakBytes: 0, sampledSteps: 0 })).not.toContain('--memory-every');
  });
});
