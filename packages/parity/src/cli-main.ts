import { parseArgs } from 'node:util';
import { selectBackend, type BackendChoice } from '@mlaan/core';
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { FixtureError, loadFixture } from './fixture.js';
import { formatReport, getParityRunner, runParity } from './parity.js';
import { float64Verdict, formatFloat64Report, formatFloat64Verdict, runFloat64Parity, type Float64Report } from './float64.js';
import { fixtureSha256, searchTieDecisions, TIE_THRESHOLD, type TieFile } from './ties.js';

const usage = `Usage: mlaan-parity <fixture-dir>... [--backend auto|cpu|wasm|onednn|webgpu|tensorflow|tensorflow-gpu] [--tolerance 1e-4]
                    [--ties auto|none|<file>] [--resolve-ties [--ties-out <file>] [--threshold 1e-4]] [--report <file.json>]

Runs one training step of this library on fixtures of the authors' PyTorch code (see
shared/golden/README.md).

A fixture with expected-f64.safetensors (the same step in float64) is judged against exact
arithmetic: for every tensor, our distance from float64 beside PyTorch float32's
(max |a - f64| / max |f64|), and the verdict that ours is no further from float64 than PyTorch
float32 is: per fixture our median distance <= 3 x PyTorch's; over all fixtures given, when they
are at least nine, our tensors over 1e-4 <= 1.5 x PyTorch's + 5 (ReLU tie flips are random, so
they are counted over a set; python/make_fixture_set.py writes six beside the three shared ones).
No tie decisions are used. Prints "float64 parity: ok" or "float64 parity: FAIL" (exit code 1);
--report writes the verdict and every tensor's distances as JSON.

A fixture without it, or any fixture with --ties given, is compared with PyTorch's float32 step
(expected.safetensors) at --tolerance: every tensor's max relative error, then "parity: ok" or
"parity: FAIL" (exit code 1).

ReLU inputs within float32 rounding of zero (|x| <= 1e-4 rms) are decided by rounding, and the
two sides give gradients that differ by up to ~1e-2; float32 runs of one implementation on two
backends differ that much. --ties auto (default) applies the reference's side at such elements
from the decision file shipped for this fixture (matched by content hash) and reports how close
to zero each decided element is; --ties none compares strictly. --resolve-ties searches the
decisions for a new fixture (one step per candidate element) and writes them to --ties-out. Tie
decisions read ReLU inputs during the step, which --backend webgpu cannot (no synchronous reads
in Node): judge webgpu with the float64 verdict.`;

/**
 * The `mlaan-parity` command: runs it on `argv` (the arguments after the command's name) and
 * returns its exit code (0 ok, 1 a verdict failed, 2 bad usage). Exported for programs that bundle
 * the command (the offline GPU bundle).
 */
export async function runParityCli(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      backend: { type: 'string', default: 'cpu' },
      tolerance: { type: 'string', default: '1e-4' },
      ties: { type: 'string' },
      'resolve-ties': { type: 'boolean', default: false },
      'ties-out': { type: 'string' },
      report: { type: 'string' },
      threshold: { type: 'string', default: String(TIE_THRESHOLD) },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length === 0 || (values['resolve-ties'] && positionals.length !== 1)) {
    console.error(usage);
    return 2;
  }
  const tolerance = Number(values.tolerance);
  if (!(tolerance > 0)) {
    console.error(`--tolerance must be a positive number, got '${values.tolerance}'`);
    return 2;
  }
  const selected = await selectBackend(values.backend as BackendChoice, { log: (m) => console.error(m) });
  console.error(`backend: ${selected.tfjsBackend}`);
  if (values['resolve-ties']) {
    const fixture = await loadFixture(positionals[0]!);
    const runner = getParityRunner(fixture.config.kind);
    if (!runner) throw new FixtureError(`No parity runner for fixture kind '${fixture.config.kind}'.`);
    const threshold = Number(values.threshold);
    const result = await searchTieDecisions(runner, fixture, { threshold, tolerance, log: (m) => console.error(m) });
    const file: TieFile = {
      fixtureSha256: await fixtureSha256(fixture),
      fixture: basename(resolve(positionals[0]!)),
      searchedWith: { backend: selected.tfjsBackend, threshold, candidates: result.candidates, flips: result.flips, trials: result.trials },
      decisions: result.decisions,
    };
    const out = values['ties-out'] ?? `${file.fixture}.ties.json`;
    writeFileSync(out, JSON.stringify(file) + '\n');
    console.error(
      `wrote ${out}: ${result.flips} flips among ${result.decisions.length} decided ties, ${result.trials} trial steps; tensors over ${tolerance}: ${result.rowsBefore.filter((r) => !r.ok).length} before, ${result.rowsAfter.filter((r) => !r.ok).length} after`,
    );
  }
  if (values['resolve-ties']) {
    const report = await runParity(positionals[0]!, { tolerance, ties: values['ties-out'] ?? `${basename(resolve(positionals[0]!))}.ties.json` });
    console.log(formatReport(report));
    return report.ok ? 0 : 1;
  }
  let ok = true;
  const float64Reports: Float64Report[] = [];
  for (const dir of positionals) {
    if (values.ties === undefined && existsSync(join(dir, 'expected-f64.safetensors'))) {
      const report = await runFloat64Parity(dir);
      console.log(formatFloat64Report(report));
      float64Reports.push(report);
    } else {
      const report = await runParity(dir, { tolerance, ties: values.ties ?? 'auto' });
      console.log(formatReport(report));
      ok &&= report.ok;
    }
  }
  if (float64Reports.length > 0) {
    const verdict = float64Verdict(float64Reports);
    console.log(formatFloat64Verdict(verdict));
    if (values.report !== undefined) {
      writeFileSync(values.report, JSON.stringify({ backend: selected.choice, device: selected.device ?? null, verdict }, null, 2) + '\n');
      console.error(`wrote ${values.report}`);
    }
    ok &&= verdict.ok;
  }
  return ok ? 0 : 1;
}
