import { existsSync } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BackendNotAvailableError, CorruptCheckpointError } from '@mlaan/core';
import { DataError } from '@mlaan/data';
import { type ActiveBackend, activateBackend, skippedBackendAdvice } from './backend.js';
import { type BackendName, configId, methodLabel, type RunConfig } from './config.js';
import { DatasetCache } from './data.js';
import { exportFinalModel } from './export.js';
import { describeMachine } from './machine.js';
import type { Reporter, RunHeader } from './progress.js';
import { writeReports, type WrittenReport } from './results/report.js';
import { readResult, RESULT_FILE, type RunResult } from './results/result-format.js';
import { CHECKPOINT_FOLDER, moduleCount, trainConfiguration } from './train.js';

export { readResult };

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

export function runsFolder(outDir: string): string {
  return join(outDir, 'runs');
}

/** Every finished result under `outDir/runs`, for `mlaan-bench report`. */
export async function readAllResults(outDir: string): Promise<RunResult[]> {
  const folder = runsFolder(outDir);
  if (!existsSync(folder)) return [];
  const results: RunResult[] = [];
  for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory()) continue;
    const result = await readResult(join(folder, entry.name));
    if (result) results.push(result);
  }
  return results;
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

export function runLabel(config: RunConfig, workers = 1, exchange: 'exact' | 'delayed' = 'exact'): string {
  const K = config.K === 'per-block' ? `K=${moduleCount(config)} (per block)` : `K=${config.K}`;
  return `${methodLabel(config)} ${K} seed ${config.seed}${workers > 1 ? ` on ${workers} workers${exchange === 'delayed' ? ' (delayed exchange)' : ''}` : ''}`;
}

/**
 * The folder of a configuration's run under `runs/`: its id, and for a pipelined run the worker
 * count and exchange, so that `--workers 2` never skips a configuration because its sequential
 * run finished in the same output folder (the id itself does not name the workers: the pipelined
 * trainer computes the same model).
 */
export function runFolderName(config: RunConfig, workers = 1, exchange: 'exact' | 'delayed' = 'exact'): string {
  const id = configId(config);
  return workers > 1 ? `${id}-workers${workers}-${exchange}` : id;
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
