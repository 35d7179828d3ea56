import { formatDuration } from './duration.js';
import type { EpochRecord, RunResult } from './results/result-format.js';

export { formatDuration } from './duration.js';

/** What a training loop reports after each step. */
export interface StepProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

/** What a training loop tells whoever shows its progress. */
export interface TrainingObserver {
  started(info: { epochs: number; batches: number; resumedAt?: { epoch: number; batch: number } }): void;
  step(progress: StepProgress): void;
  evaluating(epoch: number): void;
  epochDone(record: EpochRecord, etaSeconds: number): void;
}

/**
 * Time left in a run: smoothed seconds per step and the last evaluation's seconds, times what is
 * left of each. Before the first evaluation one is guessed at 0.3 of a training step per test batch.
 */
export class EtaEstimator {
  private secondsPerStep = NaN;
  private secondsPerEvaluation = NaN;

  constructor(private readonly run: { epochs: number; batches: number; testBatches: number }) {}

  /** A step took `wallSeconds` (data wait included); returns the smoothed images per second. */
  stepDone(wallSeconds: number, images: number): number {
    this.secondsPerStep = Number.isFinite(this.secondsPerStep) ? 0.8 * this.secondsPerStep + 0.2 * wallSeconds : wallSeconds;
    return images / this.secondsPerStep;
  }

  evaluationDone(seconds: number): void {
    this.secondsPerEvaluation = seconds;
  }

  /** Seconds left when the next step to run is `nextBatch` of 0-based `epoch`. */
  secondsLeft(epoch: number, nextBatch: number): number {
    const { epochs, batches, testBatches } = this.run;
    const stepsLeft = epochs * batches - (epoch * batches + nextBatch);
    const evaluationsLeft = epochs - epoch - (nextBatch >= batches ? 1 : 0);
    const evaluation = Number.isFinite(this.secondsPerEvaluation) ? this.secondsPerEvaluation : this.secondsPerStep * testBatches * 0.3;
    return stepsLeft * this.secondsPerStep + Math.max(evaluationsLeft, 0) * evaluation;
  }
}

export const PROGRESS_MODES = ['auto', 'bar', 'lines', 'none'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

export interface RunHeader {
  /** 1-based position in the grid. */
  index: number;
  total: number;
  id: string;
  /** `InfoPro+MLAAN K=4 seed 0`. */
  label: string;
}

/** What the grid runner tells the user; the same calls drive a live bar or plain log lines. */
export interface Reporter {
  info(message: string): void;
  runSkipped(header: RunHeader, result: RunResult): void;
  observer(header: RunHeader): TrainingObserver;
  runFinished(header: RunHeader, result: RunResult): void;
  runInterrupted(header: RunHeader, at: { epoch: number; batch: number }): void;
  close(): void;
}

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

function formatRate(imagesPerSecond: number): string {
  if (!Number.isFinite(imagesPerSecond)) return '-- img/s';
  return `${imagesPerSecond >= 100 ? imagesPerSecond.toFixed(0) : imagesPerSecond.toFixed(1)} img/s`;
}

function prefix(header: RunHeader): string {
  return `[${header.index}/${header.total}] ${header.label}`;
}

function epochLine(header: RunHeader, record: EpochRecord, epochs: number, eta: number): string {
  return (
    `${prefix(header)} · epoch ${record.epoch}/${epochs} · lr ${record.learningRate.toPrecision(3)} · train loss ${record.trainLoss.toFixed(4)} · ` +
    `test error ${record.testErrorPercent.toFixed(2)}% · ${formatRate(record.imagesPerSecond)} · ${formatDuration(record.seconds)}` +
    (eta > 0.5 ? ` · ETA ${formatDuration(eta)}` : '')
  );
}

/** `step memory 95 MiB`, or per worker for a pipelined run; never a 0 that was not measured. */
export function stepMemoryLabel(step: RunResult['memory']['step']): string {
  if (step.sampledSteps === 0) return `step memory not measured (${step.sampleEvery === 0 ? '--memory-every 0' : 'no step of this run was sampled'})`;
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  if (!step.workers) return `step memory ${mib(step.stepPeakBytes)}`;
  return `step memory ${mib(step.stepPeakBytes)} per worker (largest of ${step.workers.count}; ${mib(step.workers.stepPeakBytesSum)} over all)`;
}

function finishedLine(header: RunHeader, result: RunResult): string {
  const status = result.status === 'diverged' ? ' · DIVERGED (loss not finite)' : '';
  return (
    `${prefix(header)} · done · best test error ${result.testErrorPercent.best.toFixed(2)}% (epoch ${result.testErrorPercent.bestEpoch}), ` +
    `last ${result.testErrorPercent.last.toFixed(2)}% · ${stepMemoryLabel(result.memory.step)} · ${formatRate(result.throughput.imagesPerSecond)} · ` +
    `${formatDuration(result.wallSeconds)}${status}`
  );
}

/** One line per run start, epoch and run end: what CI logs want. */
class LineReporter implements Reporter {
  constructor(private readonly output: Output) {}

  info(message: string): void {
    this.output.write(`${message}\n`);
  }

  runSkipped(header: RunHeader): void {
    this.info(`${prefix(header)} · already finished, skipped (${header.id})`);
  }

  observer(header: RunHeader): TrainingObserver {
    let epochs = 0;
    return {
      started: (info) => {
        epochs = info.epochs;
        const resumed = info.resumedAt ? ` · resuming at epoch ${info.resumedAt.epoch + 1}, batch ${info.resumedAt.batch + 1}` : '';
        this.info(`${prefix(header)} · ${info.epochs} epoch(s) × ${info.batches} batches${resumed}`);
      },
      step: () => undefined,
      evaluating: () => undefined,
      epochDone: (record, eta) => this.info(epochLine(header, record, epochs, eta)),
    };
  }

  runFinished(header: RunHeader, result: RunResult): void {
    this.info(finishedLine(header, result));
  }

  runInterrupted(header: RunHeader, at: { epoch: number; batch: number }): void {
    this.info(`${prefix(header)} · interrupted at epoch ${at.epoch + 1}, batch ${at.batch}; checkpoint saved, rerun the same command to resume`);
  }

  close(): void {}
}

/** A live bar redrawn in place (at most 10 times a second); epoch and run summaries stay as lines. */
class BarReporter implements Reporter {
  private live = false;
  private lastDraw = 0;

  constructor(private readonly output: Output) {}

  private clear(): void {
    if (this.live) this.output.write('\r\x1b[2K');
    this.live = false;
  }

  info(message: string): void {
    this.clear();
    this.output.write(`${message}\n`);
  }

  private width(): number {
    return Math.max((this.output.columns || 100) - 1, 40);
  }

  /** `label` is shortened first when the terminal is narrow, so the numbers stay visible. */
  private draw(label: string, numbers: string, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = this.width();
    const room = width - numbers.length - 1;
    const shown = label.length <= room ? label : room > 1 ? `${label.slice(0, room - 1)}…` : '';
    const text = `${shown} ${numbers}`.trimStart();
    this.output.write(`\r\x1b[2K${text.length > width ? text.slice(0, width) : text}`);
    this.live = true;
  }

  runSkipped(header: RunHeader): void {
    this.info(`${prefix(header)} · already finished, skipped`);
  }

  observer(header: RunHeader): TrainingObserver {
    let epochs = 0;
    return {
      started: (info) => {
        epochs = info.epochs;
        const resumed = info.resumedAt ? ` (resuming at epoch ${info.resumedAt.epoch + 1}, batch ${info.resumedAt.batch + 1})` : '';
        this.info(`${prefix(header)}${resumed}`);
      },
      step: (progress: StepProgress) => {
        const fraction = progress.batch / progress.batches;
        const left = `epoch ${progress.epoch + 1}/${progress.epochs}`;
        const right =
          `${progress.batch}/${progress.batches} loss ${progress.loss.toFixed(4)} ` +
          `${formatRate(progress.imagesPerSecond)} ETA ${formatDuration(progress.etaSeconds)}`;
        // The bar takes what the label (up to 16 characters of it) and the numbers leave, at most 20 cells.
        const label = prefix(header);
        const room = this.width() - left.length - right.length - 3 - Math.min(label.length, 16);
        const cells = room >= 5 ? Math.min(room, 20) : 0;
        const filled = Math.round(fraction * cells);
        const bar = cells > 0 ? ` ${'█'.repeat(filled)}${'░'.repeat(cells - filled)}` : '';
        this.draw(label, `${left}${bar} ${right}`, progress.batch === progress.batches);
      },
      evaluating: (epoch) => this.draw(prefix(header), `epoch ${epoch + 1}/${epochs} evaluating…`, true),
      epochDone: (record, eta) => this.info(epochLine(header, record, epochs, eta)),
    };
  }

  runFinished(header: RunHeader, result: RunResult): void {
    this.info(finishedLine(header, result));
  }

  runInterrupted(header: RunHeader, at: { epoch: number; batch: number }): void {
    this.info(`${prefix(header)} · interrupted at epoch ${at.epoch + 1}, batch ${at.batch}; checkpoint saved, rerun the same command to resume`);
  }

  close(): void {
    this.clear();
  }
}

class SilentReporter extends LineReporter {
  constructor() {
    super({ write: () => true });
  }
}

/** `auto`: the bar on a terminal, lines otherwise (CI logs, pipes, files). */
export function createReporter(mode: ProgressMode, output: Output = process.stderr): Reporter {
  const resolved = mode === 'auto' ? (output.isTTY ? 'bar' : 'lines') : mode;
  if (resolved === 'bar') return new BarReporter(output);
  if (resolved === 'none') return new SilentReporter();
  return new LineReporter(output);
}
