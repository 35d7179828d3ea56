#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { MlaanError, selectBackend, type BackendChoice } from '@mlaan/core';
import { writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { FixtureError, loadFixture } from './fixture.js';
import { formatReport, getParityRunner, runParity } from './parity.js';
import { fixtureSha256, searchTieDecisions, TIE_THRESHOLD, type TieFile } from './ties.js';

const usage = `Usage: mlaan-parity <fixture-dir> [--backend auto|cpu|wasm|onednn|tensorflow|tensorflow-gpu] [--tolerance 1e-4]
                    [--ties auto|none|<file>] [--resolve-ties [--ties-out <file>] [--threshold 1e-4]]

Runs one training step of this library on a fixture of the authors' PyTorch code (see
shared/golden/README.md) and prints, for every expected tensor, its max relative error
(max |ours - theirs| / max |theirs|), then "parity: ok" or "parity: FAIL" (exit code 1).

ReLU inputs within float32 rounding of zero (|x| <= 1e-4 rms) are decided by rounding, and the
two sides give gradients that differ by up to ~1e-2; float32 runs of one implementation on two
backends differ that much. --ties auto (default) applies the reference's side at such elements
from the decision file shipped for this fixture (matched by content hash) and reports how close
to zero each decided element is; --ties none compares strictly. --resolve-ties searches the
decisions for a new fixture (one step per candidate element) and writes them to --ties-out.`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      backend: { type: 'string', default: 'cpu' },
      tolerance: { type: 'string', default: '1e-4' },
      ties: { type: 'string', default: 'auto' },
      'resolve-ties': { type: 'boolean', default: false },
      'ties-out': { type: 'string' },
      threshold: { type: 'string', default: String(TIE_THRESHOLD) },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 1) {
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
  const report = await runParity(positionals[0]!, { tolerance, ties: values['resolve-ties'] ? (values['ties-out'] ?? `${basename(resolve(positionals[0]!))}.ties.json`) : values.ties! });
  console.log(formatReport(report));
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof MlaanError ? `mlaan-parity: ${error.message}` : error);
    process.exit(2);
  },
);
