import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RawTensor, ReluMaskOverride, ReluTieBreaker, setReluTieBreaker } from '@mlaan/core';
import { ComparisonRow, compareTensors, fixtureScale, normaliser, readProduced, type ProducedValues } from './compare.js';
import { Fixture, FixtureError } from './fixture.js';
import type { ParityRunner } from './runner.js';

/*
 * Why this exists. A batch-normalised pre-activation is O(1); in a batch of 16 CIFAR images a
 * ResNet has a few inputs of its ReLUs within 1e-6 of zero. Two float32 implementations (PyTorch's
 * kernels and ours, or even our cpu and wasm backends) round those to different sides of zero, and
 * the ReLU derivative then passes or blocks that element's cotangent, which batch norm's backward
 * spreads over its whole channel and every layer below. Our own cpu and wasm runs differ from each
 * other by up to 3e-2 on some gradients for this reason alone, so no float32 implementation can
 * match another at 1e-4 without taking its choices at those elements. A tie decision is the
 * reference's choice at one such element, found by search once and stored; a run that applies it
 * also reports how close to zero every decided element is, so decisions can never hide a real
 * discrepancy: they are only accepted at |input| <= threshold * rms(input).
 */

/** The reference's ReLU derivative (mask) at one element of one ReLU evaluation. */
export interface TieDecision {
  /** The ReLU evaluation, counted from 0 in program order during one runner.run(). */
  evaluation: number;
  /** Flat index into that evaluation's input (NHWC, row-major). */
  index: number;
  mask: 0 | 1;
}

export interface TieFile {
  /** sha256 of the fixture's expected.safetensors: decisions belong to exactly one fixture. */
  fixtureSha256: string;
  fixture: string;
  /** How the decisions were found (backend, threshold, trials). */
  searchedWith: { backend: string; threshold: number; candidates: number; flips: number; trials: number };
  decisions: TieDecision[];
}

export interface TieCandidate {
  evaluation: number;
  index: number;
  value: number;
  /** |value| / rms(input of that evaluation). */
  relativeValue: number;
}

/** One decided element as this run saw it. */
export interface AppliedDecision extends TieDecision {
  value: number;
  relativeValue: number;
  /** Whether this run's own rounding put the element on the other side (the decision mattered). */
  changed: boolean;
}

/** The default bound on |input| / rms(input) for an element to count as a rounding-level tie. */
export const TIE_THRESHOLD = 1e-4;

function rms(data: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i]! * data[i]!;
  return Math.sqrt(sum / Math.max(1, data.length));
}

/**
 * A ReLU input's values, read while the step runs: a tie breaker decides inside the synchronous
 * step, so it cannot wait for the device. Backends without synchronous reads (webgpu in Node) are
 * judged by the float64 verdict instead, which needs no decisions.
 */
function readReluInput(input: tf.Tensor): Float32Array {
  try {
    return input.dataSync() as Float32Array;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new FixtureError(
      `ReLU tie decisions read every ReLU input during the step, synchronously, and backend '${tf.getBackend()}' cannot (${reason}). ` +
        'Judge it with the float64 verdict (fixtures with expected-f64.safetensors, without --ties), or compare strictly with --ties none.',
      { cause: error },
    );
  }
}

/** Records every element within `threshold * rms` of zero; changes nothing. */
class RecordingTieBreaker implements ReluTieBreaker {
  evaluations = 0;
  readonly candidates: TieCandidate[] = [];
  constructor(private readonly threshold: number) {}
  inspect(input: tf.Tensor): ReluMaskOverride | undefined {
    const evaluation = this.evaluations++;
    const data = readReluInput(input);
    const scale = rms(data);
    for (let index = 0; index < data.length; index++) {
      const value = data[index]!;
      const relativeValue = scale > 0 ? Math.abs(value) / scale : Math.abs(value);
      if (relativeValue <= this.threshold) this.candidates.push({ evaluation, index, value, relativeValue });
    }
    return undefined;
  }
}

/** Applies decisions and records how close to zero each decided element was in this run. */
class DecidingTieBreaker implements ReluTieBreaker {
  evaluations = 0;
  readonly applied: AppliedDecision[] = [];
  private readonly byEvaluation = new Map<number, TieDecision[]>();
  constructor(decisions: readonly TieDecision[]) {
    for (const d of decisions) {
      const list = this.byEvaluation.get(d.evaluation) ?? [];
      list.push(d);
      this.byEvaluation.set(d.evaluation, list);
    }
  }
  inspect(input: tf.Tensor): ReluMaskOverride | undefined {
    const evaluation = this.evaluations++;
    const list = this.byEvaluation.get(evaluation);
    if (!list) return undefined;
    const data = readReluInput(input);
    const scale = rms(data);
    for (const d of list) {
      if (d.index >= data.length) {
        throw new FixtureError(`Tie decision for ReLU evaluation ${evaluation} names element ${d.index}, but it has ${data.length}: the decisions belong to another run.`);
      }
      const value = data[d.index]!;
      this.applied.push({ ...d, value, relativeValue: scale > 0 ? Math.abs(value) / scale : Math.abs(value), changed: (value > 0 ? 1 : 0) !== d.mask });
    }
    return { indices: Int32Array.from(list, (d) => d.index), mask: Uint8Array.from(list, (d) => d.mask) };
  }
}

/** Run `runner` on `fixture` with a tie breaker installed for exactly that run. */
async function runWith(runner: ParityRunner, fixture: Fixture, breaker: ReluTieBreaker): Promise<Map<string, tf.Tensor>> {
  const previous = setReluTieBreaker(breaker);
  try {
    return await runner.run(fixture);
  } finally {
    setReluTieBreaker(previous);
  }
}

export interface DecidedRun {
  produced: Map<string, tf.Tensor>;
  applied: AppliedDecision[];
  /** ReLU evaluations the run made (a decision file for another program shows up as a mismatch). */
  evaluations: number;
}

export async function runWithDecisions(runner: ParityRunner, fixture: Fixture, decisions: readonly TieDecision[]): Promise<DecidedRun> {
  const breaker = new DecidingTieBreaker(decisions);
  const produced = await runWith(runner, fixture, breaker);
  return { produced, applied: breaker.applied, evaluations: breaker.evaluations };
}

export async function fixtureSha256(fixture: Fixture): Promise<string> {
  return createHash('sha256').update(await readFile(join(fixture.dir, 'expected.safetensors'))).digest('hex');
}

/** Where the decision files that ship with this package live. */
export const BUNDLED_TIES_DIR = fileURLToPath(new URL('../ties/', import.meta.url));

/** The bundled (or `dirs`') decision file for this fixture, matched by content hash. */
export async function findTieFile(fixture: Fixture, dirs: readonly string[] = [BUNDLED_TIES_DIR]): Promise<{ path: string; file: TieFile } | undefined> {
  const sha = await fixtureSha256(fixture);
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
      const path = join(dir, name);
      const file = JSON.parse(readFileSync(path, 'utf8')) as TieFile;
      if (file.fixtureSha256 === sha) return { path, file };
    }
  }
  return undefined;
}

function dispose(tensors: Map<string, tf.Tensor>): void {
  for (const t of tensors.values()) t.dispose();
}

/**
 * Every expected tensor flattened into one vector, each scaled by 1 / max|expected| (the parity
 * measure's normaliser, floored), so that squared distances weigh all tensors alike.
 */
class Vectorizer {
  private readonly names: string[];
  private readonly scales: number[];
  private readonly sizes: number[];
  readonly target: Float64Array;
  constructor(expected: ReadonlyMap<string, RawTensor>) {
    const scale = fixtureScale(expected);
    this.names = [...expected.keys()].sort();
    this.sizes = this.names.map((n) => expected.get(n)!.data.length);
    this.scales = this.names.map((n) => {
      const d = expected.get(n)!.data as ArrayLike<number>;
      let m = 0;
      for (let i = 0; i < d.length; i++) m = Math.max(m, Math.abs(d[i]!));
      return 1 / normaliser(m, scale);
    });
    this.target = this.flatten((n) => expected.get(n)!.data as ArrayLike<number>);
  }
  private flatten(get: (name: string) => ArrayLike<number> | undefined): Float64Array {
    const out = new Float64Array(this.sizes.reduce((a, b) => a + b, 0));
    let offset = 0;
    this.names.forEach((name, k) => {
      const d = get(name);
      // A missing or mis-sized tensor stays zero here; compareTensors reports it.
      if (d && d.length === this.sizes[k]) for (let i = 0; i < d.length; i++) out[offset + i] = d[i]! * this.scales[k]!;
      offset += this.sizes[k]!;
    });
    return out;
  }
  fromProduced(produced: ProducedValues): Float64Array {
    return this.flatten((n) => produced.get(n));
  }
}

function squaredDistance(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return sum;
}

/** (a - b) . (c - d), without allocating. */
function differenceDot(a: Float64Array, b: Float64Array, c: Float64Array, d: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) * (c[i]! - d[i]!);
  return sum;
}

export interface TieSearchOptions {
  threshold?: number;
  tolerance?: number;
  /** Single-flip trials outside the promising evaluations, if those did not suffice (default 300). */
  maxSingleTrials?: number;
  log?: (message: string) => void;
}

export interface TieSearchResult {
  decisions: TieDecision[];
  candidates: number;
  flips: number;
  trials: number;
  rowsBefore: ComparisonRow[];
  rowsAfter: ComparisonRow[];
}

/**
 * Search for the reference's ReLU choices among the elements within `threshold * rms` of zero.
 * A flip adds an almost independent correction to the gradients (it moves one element's
 * cotangent), so first each ReLU evaluation's candidates are flipped together and the evaluation
 * is kept for a closer look when that moves the gradients towards the fixture; then, in those
 * evaluations, each candidate is flipped alone and kept when it lowers the squared error; if
 * tensors are still over, the other candidates are tried singly, closest to zero first. The
 * result stores the side of every candidate (flipped, or as this backend rounded it), so that
 * another backend, whose own rounding may differ at some of them, takes the same sides.
 */
export async function searchTieDecisions(runner: ParityRunner, fixture: Fixture, options: TieSearchOptions = {}): Promise<TieSearchResult> {
  const threshold = options.threshold ?? TIE_THRESHOLD;
  const tolerance = options.tolerance ?? 1e-4;
  const log = options.log ?? (() => {});
  const vectors = new Vectorizer(fixture.expected);
  const target = vectors.target;
  let trials = 0;
  const measure = async (decisions: readonly TieDecision[], recorder?: RecordingTieBreaker) => {
    const produced = recorder ? await runWith(runner, fixture, recorder) : (await runWithDecisions(runner, fixture, decisions)).produced;
    trials++;
    const values = await readProduced(produced);
    const vector = vectors.fromProduced(values);
    const rows = compareTensors(fixture.expected, values, tolerance);
    dispose(produced);
    return { vector, rows, error: squaredDistance(vector, target) };
  };
  const recorder = new RecordingTieBreaker(threshold);
  const baseline = await measure([], recorder);
  const own = (c: TieCandidate) => (c.value > 0 ? 1 : 0) as 0 | 1;
  const flip = (c: TieCandidate): TieDecision => ({ evaluation: c.evaluation, index: c.index, mask: (1 - own(c)) as 0 | 1 });
  const byEvaluation = new Map<number, TieCandidate[]>();
  for (const c of recorder.candidates) {
    const list = byEvaluation.get(c.evaluation) ?? [];
    list.push(c);
    byEvaluation.set(c.evaluation, list);
  }
  log(
    `${recorder.candidates.length} ReLU inputs within ${threshold} rms of zero in ${byEvaluation.size} of ${recorder.evaluations} evaluations; ` +
      `${baseline.rows.filter((r) => !r.ok).length} tensors over ${tolerance}; squared error ${baseline.error.toExponential(3)}`,
  );

  // Phase 1: the evaluations whose flips, taken together, point towards the fixture (none to
  // look for when this backend already matches).
  const promising: { evaluation: number; projection: number }[] = [];
  for (const [evaluation, list] of baseline.rows.every((r) => r.ok) ? [] : byEvaluation) {
    const trial = await measure(list.map(flip));
    // correction (trial - baseline) . residual (target - baseline) > 0: it helps.
    const projection = differenceDot(trial.vector, baseline.vector, target, baseline.vector);
    if (projection > 1e-3 * baseline.error) promising.push({ evaluation, projection });
  }
  promising.sort((a, b) => b.projection - a.projection);
  log(`evaluations whose flips point towards the fixture: ${promising.map((p) => p.evaluation).join(', ') || 'none'}`);

  const flips: TieDecision[] = [];
  let current = baseline;
  const allWithin = () => current.rows.every((r) => r.ok);
  /** Keep a single flip when it lowers the squared error. */
  const tryFlip = async (c: TieCandidate) => {
    const trial = await measure([...flips, flip(c)]);
    if (!(trial.error < current.error * (1 - 1e-6))) return;
    flips.push(flip(c));
    log(
      `  flip evaluation ${c.evaluation} element ${c.index} (|x| = ${c.relativeValue.toExponential(1)} rms): squared error ` +
        `${current.error.toExponential(3)} -> ${trial.error.toExponential(3)}, ${trial.rows.filter((r) => !r.ok).length} tensors over`,
    );
    current = trial;
  };

  // Phase 2: single flips within them, greedily. Once every tensor is within tolerance, what is
  // left is rounding noise: stop rather than fit it (the remaining candidates keep this backend's side).
  for (const { evaluation } of promising) {
    for (const c of byEvaluation.get(evaluation)!.sort((a, b) => a.relativeValue - b.relativeValue)) {
      if (allWithin()) break;
      await tryFlip(c);
    }
  }

  // Phase 3, only if tensors are still over: a tie whose evaluation's group flip pointed away
  // (its evaluation also holds harmful flips) is missed above. Ties that matter sit closest to
  // zero, so try the remaining candidates singly, closest first, within a budget.
  const tried = new Set(promising.flatMap(({ evaluation }) => byEvaluation.get(evaluation)!.map((c) => `${c.evaluation}:${c.index}`)));
  let budget = options.maxSingleTrials ?? 300;
  for (const c of [...recorder.candidates].sort((a, b) => a.relativeValue - b.relativeValue)) {
    if (allWithin() || budget-- <= 0) break;
    if (!tried.has(`${c.evaluation}:${c.index}`)) await tryFlip(c);
  }
  const flipped = new Set(flips.map((d) => `${d.evaluation}:${d.index}`));
  const decisions = recorder.candidates.map((c) =>
    flipped.has(`${c.evaluation}:${c.index}`) ? flip(c) : { evaluation: c.evaluation, index: c.index, mask: own(c) },
  );
  return { decisions, candidates: recorder.candidates.length, flips: flips.length, trials, rowsBefore: baseline.rows, rowsAfter: current.rows };
}
