import { rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BackendNotAvailableError, CorruptCheckpointError } from '@mlaan/core';
import { DataError } from '@mlaan/data';
import { type ActiveBackend, activateBackend, skippedBackendAdvice } from './backend.js';
import type { RunConfig } from './configuration/settings.js';
import { runLabel } from './configuration/labels.js';
import type { BackendName } from './configuration/settings.js';
import { DatasetCache } from './data.js';
import { exportFinalModel } from './export.js';
import { describeMachine } from './machine.js';
import type { Reporter, RunHeader } from './progress.js';
import { writeReports, type WrittenReport } from './results/report.js';
import { readResult, RESULT_FILE, type RunResult } from './results/result-format.js';
import { runFolderName, runsFolder } from './results/results-folder.js';
import { trainConfiguration } from './training/train-configuration.js';
import { CHECKPOINT_FOLDER } from './training/training-run.js';

/** How to run a grid; none of it changes the results, so none of it is in a configuration's id. */
export interface ExecutionOptions {
  outDir: string;
  /** Default: $MLAAN_DATA_DIR, else @mlaan/data's per-user cache folder. */
  dataDir?: string;
  download: boolean;
  checkpointEvery: number;
  memoryEvery: number;
  /** Data-loader threads (`--loader-workers`). */
  loaderWorkers?: number;
  /** Pipeline workers for module-parallel training (`--workers`; 1: the sequential trainer). */
  workers?: number;
  /** `--exchange`: how cascade cotangents cross the pipeline's workers (default exact). */
  exchange?: 'exact' | 'delayed';
  keepCheckpoints: boolean;
  /** Train finished configurations again instead of skipping them. */
  force: boolean;
  /** `--export <dir>`: write each trained configuration's final model there (export.ts). */
  exportDir?: string;
}

export interface GridOutcome {
  results: RunResult[];
  /** Configurations that failed, with the reason; the others still ran. */
  failures: { id: string; label: string; message: string }[];
  interrupted: boolean;
  skipped: number;
  report?: WrittenReport;
  backend?: ActiveBackend;
}

/** A configuration that failed before writing anything leaves no folder behind. */
async function removeIfEmpty(folder: string): Promise<void> {
  try {
    await rmdir(folder);
  } catch {
    // Not empty (a checkpoint to resume from) or never created: either way it stays as it is.
  }
}

/** The fix for an unreadable checkpoint, in this command line's words. */
function cannotResume(error: CorruptCheckpointError): string {
  return `its checkpoint ${error.dir} cannot be resumed (${error.problem}). Rerun the same command with --force to train this configuration from the start (that replaces the checkpoint).`;
}

/**
 * Runs every configuration of a grid in order. Finished ones (result.json present) are skipped,
 * an interrupted one continues from its checkpoint, and the reports are rewritten at the end from
 * every finished configuration of the grid, also after an interruption.
 */
export async function runGrid(
  configs: readonly RunConfig[],
  backendChoice: BackendName,
  execution: ExecutionOptions,
  reporter: Reporter,
  stop: { requested: boolean },
  command: string,
): Promise<GridOutcome> {
  const outcome: GridOutcome = { results: [], failures: [], interrupted: false, skipped: 0 };
  const data = new DatasetCache(execution.dataDir, execution.download);
  for (const [index, config] of configs.entries()) {
    const id = runFolderName(config, execution.workers, execution.exchange);
    const header: RunHeader = { index: index + 1, total: configs.length, id, label: runLabel(config, execution.workers, execution.exchange) };
    const runDir = join(runsFolder(execution.outDir), id);
    if (execution.force) {
      await rm(join(runDir, RESULT_FILE), { force: true });
      await rm(join(runDir, CHECKPOINT_FOLDER), { recursive: true, force: true });
    }
    const finished = await readResult(runDir);
    if (finished) {
      outcome.results.push(finished);
      outcome.skipped += 1;
      reporter.runSkipped(header, finished);
      if (execution.exportDir) reporter.info(`[${header.index}/${header.total}] ${header.label} · finished earlier, so nothing to export: add --force to train it again and export it.`);
      continue;
    }
    if (stop.requested) {
      outcome.interrupted = true;
      break;
    }
    // The backend starts only when something has to be trained: a finished grid reports instantly.
    if (!outcome.backend) {
      // Core logs each skipped provider; the bench adds how to get it, and the choice comes last.
      const lines: string[] = [];
      outcome.backend = await activateBackend(backendChoice, (message) => lines.push(message));
      for (const line of lines.filter((message) => !message.startsWith('backend: skipped '))) reporter.info(line);
      for (const line of skippedBackendAdvice(outcome.backend)) reporter.info(line);
    }
    try {
      const trained = await trainConfiguration(config, {
        runDir,
        data,
        backend: outcome.backend,
        checkpointEvery: execution.checkpointEvery,
        memoryEvery: execution.memoryEvery,
        loaderWorkers: execution.loaderWorkers,
        workers: execution.workers,
        exchange: execution.exchange,
        keepCheckpoint: execution.keepCheckpoints,
        observer: reporter.observer(header),
        stop,
        command,
        finalModel: execution.exportDir
          ? async (model) => {
              const folder = await exportFinalModel(execution.exportDir!, config, model);
              reporter.info(`[${header.index}/${header.total}] ${header.label} · exported to ${folder} (PyTorch safetensors, TensorFlow.js LayersModel)`);
            }
          : undefined,
      });
      if (trained.status === 'interrupted') {
        reporter.runInterrupted(header, trained);
        outcome.interrupted = true;
        break;
      }
      outcome.results.push(trained.result);
      reporter.runFinished(header, trained.result);
    } catch (error) {
      await removeIfEmpty(runDir);
      // Missing data or backend stops every configuration alike: no point going on.
      if (error instanceof DataError || error instanceof BackendNotAvailableError) throw error;
      const message = error instanceof CorruptCheckpointError ? cannotResume(error) : error instanceof Error ? error.message : String(error);
      outcome.failures.push({ id, label: header.label, message });
      reporter.info(`[${header.index}/${header.total}] ${header.label} · FAILED: ${message}`);
    }
  }
  if (outcome.results.length > 0) {
    outcome.report = await writeReports(execution.outDir, outcome.results, { command, machine: describeMachine() });
  }
  return outcome;
}
