#!/usr/bin/env node
import { MlaanError } from '@mlaan/core';
import { runParityCli } from './cli-main.js';

runParityCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof MlaanError ? `mlaan-parity: ${error.message}` : error);
    process.exit(2);
  },
);
