import type { RawTensor } from '@mlaan/core';
import { fixtureScale, normaliser, readProduced, type ProducedValues } from './compare.js';
import { FixtureError, loadFixture, type Fixture } from './fixture.js';
import { parityKinds } from './runner.js';
// parity.js registers the bundled runners.
import { getParityRunner } from './parity.js';

/**
 * Fidelity against exact arithmetic. A fixture's expected-f64.safetensors is the step computed in
 * float64 by the authors' code; both float32 implementations (ours and PyTorch's, whose step is
 * expected.safetensors) are measured by their distance from it, and ours passes when it is no
 * further from the truth than PyTorch's is:
 *   - systematic precision, per fixture: our median distance <= 3 x PyTorch's median;
 *   - tie flips, over a set of fixtures: our tensors over 1e-4, summed over the set,
 *     <= 1.5 x PyTorch's sum + 5. A ReLU input within rounding of zero lands on either side by
 *     chance and moves its block and every block below at once, so flips are judged over a set.
 */
export const FLOAT64_LIMITS = {
  /** Distance above which a tensor counts as moved by a tie flip. */
  flipDistance: 1e-4,
  medianRatio: 3,
  flipRatio: 1.5,
  flipAllowance: 5,
  /**
   * Fewest fixtures over which flips are judged. One flip moves a block and every block below, so
   * the count of one fixture, or of three, swings by tens either way with the batch and seed (the
   * shared three: PyTorch float32 0 / 9 / 45, our cpu and wasm runs 0-27 / 77-99 on the MLAAN one);
   * over nine fixtures (the shared three and python/make_fixture_set.py's six) it settles.
   */
  minimumFlipSample: 9,
} as const;

export interface Float64Row {
  name: string;
  /** max |ours - f64| / max |f64| (see `normaliser` for tensors that are rounding noise). */
  ours: number;
  /** The same distance for PyTorch's float32 step (expected.safetensors). */
  reference: number;
}

export interface Float64Summary {
  median: number;
  max: number;
  /** Tensors further than FLOAT64_LIMITS.flipDistance from float64. */
  over: number;
}

export interface Float64Report {
  fixture: string;
  kind: string;
  rows: Float64Row[];
  ours: Float64Summary;
  reference: Float64Summary;
  /** ours.median <= medianRatio x reference.median */
  precisionOk: boolean;
}

export interface Float64SetVerdict {
  fixtures: Float64Report[];
  oursOver: number;
  referenceOver: number;
  /** Whether the set is large enough (minimumFlipSample) for the flip count to be judged. */
  flipsJudged: boolean;
  /** oursOver <= flipRatio x referenceOver + flipAllowance, or true when not judged. */
  flipsOk: boolean;
  /** Every fixture's precision and the set's flips. */
  ok: boolean;
}

function values(raw: RawTensor): ArrayLike<number> {
  return raw.data as ArrayLike<number>;
}

/** The golden README's measure against float64: max |a - b| / max |b|, noise tensors at the fixture scale. */
export function float64Distance(value: ArrayLike<number>, truth: ArrayLike<number>, scale: number): number {
  if (value.length !== truth.length) return Infinity;
  let difference = 0;
  let largest = 0;
  for (let i = 0; i < truth.length; i++) {
    difference = Math.max(difference, Math.abs(value[i]! - truth[i]!));
    largest = Math.max(largest, Math.abs(truth[i]!));
  }
  if (!Number.isFinite(difference)) return Infinity;
  const divisor = normaliser(largest, scale);
  return divisor > 0 ? difference / divisor : difference;
}

function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return 0;
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function summarise(distances: readonly number[]): Float64Summary {
  const sorted = [...distances].sort((a, b) => a - b);
  return {
    median: median(sorted),
    max: sorted.length ? sorted[sorted.length - 1]! : 0,
    over: sorted.filter((d) => !(d <= FLOAT64_LIMITS.flipDistance)).length,
  };
}

/** Compare a run's tensors (values from `readProduced`) and PyTorch's float32 step with the fixture's float64 step. */
export function compareWithFloat64(fixture: Fixture, produced: ProducedValues): Float64Report {
  const truth = fixture.expectedFloat64;
  if (!truth) {
    throw new FixtureError(`${fixture.dir} has no expected-f64.safetensors; write it with python/make_fixture.py --float64.`);
  }
  const scale = fixtureScale(truth);
  const rows: Float64Row[] = [];
  for (const [name, exact] of truth) {
    const theirs = fixture.expected.get(name);
    const ours = produced.get(name);
    rows.push({
      name,
      ours: ours ? float64Distance(ours, values(exact), scale) : Infinity,
      reference: theirs ? float64Distance(values(theirs), values(exact), scale) : Infinity,
    });
  }
  for (const name of produced.keys()) {
    if (!truth.has(name)) rows.push({ name, ours: Infinity, reference: 0 });
  }
  const ours = summarise(rows.map((r) => r.ours));
  const reference = summarise(rows.map((r) => r.reference));
  return {
    fixture: fixture.dir,
    kind: fixture.config.kind,
    rows,
    ours,
    reference,
    precisionOk: ours.median <= FLOAT64_LIMITS.medianRatio * reference.median && Number.isFinite(ours.max),
  };
}

/** One step of this library on a fixture folder, strictly (no tie decisions), against float64. */
export async function runFloat64Parity(dir: string): Promise<Float64Report> {
  const fixture = await loadFixture(dir);
  const runner = getParityRunner(fixture.config.kind);
  if (!runner) {
    throw new FixtureError(`No parity runner for fixture kind '${fixture.config.kind}' (known: ${parityKinds().join(', ')}). Register one with registerParityRunner().`);
  }
  const produced = await runner.run(fixture);
  try {
    return compareWithFloat64(fixture, await readProduced(produced));
  } finally {
    for (const t of produced.values()) t.dispose();
  }
}

/** The verdict over a set of fixtures: each fixture's precision, and the flips summed over the set. */
export function float64Verdict(fixtures: readonly Float64Report[]): Float64SetVerdict {
  const oursOver = fixtures.reduce((sum, f) => sum + f.ours.over, 0);
  const referenceOver = fixtures.reduce((sum, f) => sum + f.reference.over, 0);
  const flipsJudged = fixtures.length >= FLOAT64_LIMITS.minimumFlipSample;
  const flipsOk = !flipsJudged || oursOver <= FLOAT64_LIMITS.flipRatio * referenceOver + FLOAT64_LIMITS.flipAllowance;
  return { fixtures: [...fixtures], oursOver, referenceOver, flipsJudged, flipsOk, ok: flipsOk && fixtures.every((f) => f.precisionOk) };
}

const exponential = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : 'inf');

export function formatFloat64Report(report: Float64Report, verbose = true): string {
  const lines: string[] = [];
  if (verbose) {
    const width = Math.max(...report.rows.map((r) => r.name.length), 10);
    lines.push(`${'tensor'.padEnd(width)}  ours-f64  torch32-f64`);
    for (const r of report.rows) {
      const flag = r.ours > FLOAT64_LIMITS.flipDistance ? (r.reference > FLOAT64_LIMITS.flipDistance ? '  over (torch too)' : '  over') : '';
      lines.push(`${r.name.padEnd(width)}  ${exponential(r.ours).padStart(8)}  ${exponential(r.reference).padStart(11)}${flag}`);
    }
  }
  const { ours, reference } = report;
  lines.push(
    `${report.fixture}: distance from float64, ours median ${exponential(ours.median)} max ${exponential(ours.max)} over 1e-4 ${ours.over}/${report.rows.length}; ` +
      `PyTorch float32 median ${exponential(reference.median)} max ${exponential(reference.max)} over ${reference.over}; ` +
      `precision ${report.precisionOk ? 'ok' : 'FAIL'} (median <= ${FLOAT64_LIMITS.medianRatio} x PyTorch's)`,
  );
  return lines.join('\n');
}

export function formatFloat64Verdict(verdict: Float64SetVerdict): string {
  const bound = FLOAT64_LIMITS.flipRatio * verdict.referenceOver + FLOAT64_LIMITS.flipAllowance;
  return [
    `tie flips over ${verdict.fixtures.length} fixture(s): ours ${verdict.oursOver} tensors over 1e-4, PyTorch float32 ${verdict.referenceOver}, bound ${bound} — ` +
      (verdict.flipsJudged
        ? verdict.flipsOk
          ? 'ok'
          : 'FAIL'
        : `not judged (fewer than ${FLOAT64_LIMITS.minimumFlipSample} fixtures: generate a set with python/make_fixture_set.py)`),
    `float64 parity: ${verdict.ok ? 'ok' : 'FAIL'}`,
  ].join('\n');
}
