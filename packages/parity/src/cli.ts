#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { MlaanError, selectBackend, type BackendChoice } from '@mlaan/core';
import { formatReport, runParity } from './parity.js';

const usage = `Usage: mlaan-parity <fixture-dir> [--backend auto|cpu|wasm|onednn|tensorflow|tensorflow-gpu] [--tolerance 1e-4]

Runs one training step of this library on a fixture of the authors' PyTorch code (see
shared/golden/README.md) and prints, for every expected tensor, its max relative error
(max |ours - theirs| / max |theirs|), then "parity: ok" or "parity: FAIL" (exit code 1).`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      backend: { type: 'string', default: 'cpu' },
      tolerance: { type: 'string', default: '1e-4' },
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
  const report = await runParity(positionals[0]!, tolerance);
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
