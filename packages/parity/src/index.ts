export * from './fixture.js';
export * from './compare.js';
export * from './runner.js';
export { runParity, formatReport } from './parity.js';
export type { ParityReport } from './parity.js';
export { e2eRunner } from './runners/e2e.js';
