import * as tf from '@tensorflow/tfjs-core';
import { ComparisonRow, compareTensors } from './compare.js';
import { FixtureError, loadFixture } from './fixture.js';
import { getParityRunner, parityKinds, registerParityRunner } from './runner.js';
import { e2eRunner } from './runners/e2e.js';
import { infoproRunner } from './runners/infopro.js';
import { mlaanReferenceRunner } from './runners/mlaan.js';

registerParityRunner(e2eRunner);
registerParityRunner(infoproRunner);
registerParityRunner(mlaanReferenceRunner);

export interface ParityReport {
  kind: string;
  rows: ComparisonRow[];
  ok: boolean;
}

/** Run a fixture folder and compare every expected tensor at `tolerance` relative error. */
export async function runParity(dir: string, tolerance = 1e-4): Promise<ParityReport> {
  const fixture = await loadFixture(dir);
  const runner = getParityRunner(fixture.config.kind);
  if (!runner) {
    throw new FixtureError(
      `No parity runner for fixture kind '${fixture.config.kind}' (known: ${parityKinds().join(', ')}). Register one with registerParityRunner().`,
    );
  }
  const produced = await runner.run(fixture);
  const rows = compareTensors(fixture.expected, produced, tolerance);
  for (const t of produced.values()) t.dispose();
  return { kind: fixture.config.kind, rows, ok: rows.every((r) => r.ok) };
}

export function formatReport(report: ParityReport): string {
  const width = Math.max(...report.rows.map((r) => r.name.length), 10);
  const lines = report.rows.map(
    (r) => `${r.name.padEnd(width)}  ${Number.isFinite(r.relativeError) ? r.relativeError.toExponential(2) : 'inf'}${r.ok ? '' : '  FAIL'}${r.note ? `  (${r.note})` : ''}`,
  );
  lines.push(`parity: ${report.ok ? 'ok' : 'FAIL'}`);
  return lines.join('\n');
}

export { tf };
