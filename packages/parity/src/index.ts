export * from './fixture.js';
export * from './compare.js';
export * from './runner.js';
export { runParity, formatReport } from './parity.js';
export type { ParityReport, ParityOptions } from './parity.js';
export * from './ties.js';
export * from './float64.js';
export { e2eRunner } from './runners/e2e.js';
export { runParityCli } from './cli-main.js';
