import * as tf from '@tensorflow/tfjs-core';
import { ComparisonRow, compareTensors, readProduced } from './compare.js';
import { FixtureError, loadFixture } from './fixture.js';
import { getParityRunner, parityKinds, registerParityRunner } from './runner.js';
import { AppliedDecision, findTieFile, fixtureSha256, runWithDecisions, TieFile } from './ties.js';
import { readFile } from 'node:fs/promises';
import { augLocalRunner } from './runners/auglocal.js';
import { e2eRunner } from './runners/e2e.js';
import { infoproRunner } from './runners/infopro.js';
import { mlaanReferenceRunner } from './runners/mlaan.js';

registerParityRunner(e2eRunner);
registerParityRunner(infoproRunner);
registerParityRunner(mlaanReferenceRunner);
registerParityRunner(augLocalRunner);

export interface ParityReport {
  kind: string;
  rows: ComparisonRow[];
  ok: boolean;
  /** The ReLU tie decisions applied (see ties.ts), if a decision file was used. */
  ties?: { path: string; applied: AppliedDecision[]; threshold: number; withinThreshold: boolean };
}

export interface ParityOptions {
  tolerance?: number;
  /**
   * ReLU tie decisions: `auto` (default) applies the decision file bundled for this fixture if
   * there is one, `none` runs strictly as is, or a path to a decision file.
   */
  ties?: 'auto' | 'none' | string;
}

/** Run a fixture folder and compare every expected tensor at `tolerance` relative error. */
export async function runParity(dir: string, options: ParityOptions | number = {}): Promise<ParityReport> {
  const { tolerance = 1e-4, ties = 'auto' } = typeof options === 'number' ? { tolerance: options } : options;
  const fixture = await loadFixture(dir);
  const runner = getParityRunner(fixture.config.kind);
  if (!runner) {
    throw new FixtureError(
      `No parity runner for fixture kind '${fixture.config.kind}' (known: ${parityKinds().join(', ')}). Register one with registerParityRunner().`,
    );
  }
  let tieFile: { path: string; file: TieFile } | undefined;
  if (ties === 'auto') tieFile = await findTieFile(fixture);
  else if (ties !== 'none') {
    const file = JSON.parse(await readFile(ties, 'utf8')) as TieFile;
    if (file.fixtureSha256 !== (await fixtureSha256(fixture))) {
      throw new FixtureError(`${ties} holds tie decisions for another fixture (${file.fixture}); search this one's with --resolve-ties.`);
    }
    tieFile = { path: ties, file };
  }
  if (!tieFile) {
    const produced = await runner.run(fixture);
    const rows = compareTensors(fixture.expected, await readProduced(produced), tolerance);
    for (const t of produced.values()) t.dispose();
    return { kind: fixture.config.kind, rows, ok: rows.every((r) => r.ok) };
  }
  const { produced, applied } = await runWithDecisions(runner, fixture, tieFile.file.decisions);
  const rows = compareTensors(fixture.expected, await readProduced(produced), tolerance);
  for (const t of produced.values()) t.dispose();
  const threshold = tieFile.file.searchedWith.threshold;
  // A decision may only touch an element that this run, too, puts within rounding of zero.
  const withinThreshold = applied.length === tieFile.file.decisions.length && applied.every((a) => a.relativeValue <= 2 * threshold);
  return {
    kind: fixture.config.kind,
    rows,
    ok: rows.every((r) => r.ok) && withinThreshold,
    ties: { path: tieFile.path, applied, threshold, withinThreshold },
  };
}

export function formatReport(report: ParityReport): string {
  const width = Math.max(...report.rows.map((r) => r.name.length), 10);
  const lines = report.rows.map(
    (r) => `${r.name.padEnd(width)}  ${Number.isFinite(r.relativeError) ? r.relativeError.toExponential(2) : 'inf'}${r.ok ? '' : '  FAIL'}${r.note ? `  (${r.note})` : ''}`,
  );
  if (report.ties) {
    const { applied, path, threshold, withinThreshold } = report.ties;
    const changed = applied.filter((a) => a.changed);
    const worst = Math.max(0, ...changed.map((a) => a.relativeValue));
    lines.push(
      `ReLU ties: ${applied.length} decisions from ${path}; ${changed.length} differed from this run's own rounding, ` +
        `all at |input| <= ${worst.toExponential(1)} rms (bound ${(2 * threshold).toExponential(0)})${withinThreshold ? '' : '  FAIL: a decision is not at a tie'}`,
    );
  }
  lines.push(`parity: ${report.ok ? 'ok' : 'FAIL'}`);
  return lines.join('\n');
}

export { tf, getParityRunner };
