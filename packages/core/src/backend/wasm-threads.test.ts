import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * The wasm thread count is fixed when the backend first starts, so each case runs in a fresh Node
 * process (wasm-threads.fixture.ts) and reports back as JSON.
 */
const fixture = fileURLToPath(new URL('./wasm-threads.fixture.ts', import.meta.url));
const packageRoot = fileURLToPath(new URL('../..', import.meta.url));

interface FixtureReport {
  selected: { choice: string; tfjsBackend: string; description: string };
  threadsCount: number;
  log: string[];
  maxRelativeError: number;
}

async function runFixture(...args: string[]): Promise<FixtureReport> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fixture, ...args], {
    cwd: packageRoot,
    // The process must end by itself: XNNPACK's worker threads must not keep it alive.
    timeout: 90_000,
  });
  const reportLine = stdout.split('\n').find((line) => line.startsWith('{'));
  if (reportLine == null) throw new Error(`fixture printed no report:\n${stdout}`);
  return JSON.parse(reportLine) as FixtureReport;
}

describe('multi-threaded wasm in Node', () => {
  it('starts the threaded SIMD build with the requested threads and computes what cpu computes', async () => {
    const report = await runFixture('2');
    expect(report.selected.tfjsBackend).toBe('wasm');
    expect(report.threadsCount).toBe(2);
    expect(report.selected.description).toContain('multi-threaded SIMD build, 2 thread(s)');
    expect(report.maxRelativeError).toBeLessThan(1e-4);
  });

  it('falls back to the single-threaded SIMD build, with one log line, when threads cannot run', async () => {
    const report = await runFixture('2', '--without-shared-memory');
    expect(report.threadsCount).toBe(1);
    expect(report.selected.description).toContain('single-threaded SIMD build, 1 thread(s)');
    expect(report.log.filter((line) => line.includes('multi-threaded build did not start'))).toEqual([
      'wasm: the multi-threaded build did not start (SharedArrayBuffer is unavailable); using the single-threaded SIMD build',
    ]);
    expect(report.maxRelativeError).toBeLessThan(1e-4);
  });

  it('uses the single-threaded build without trying threads when one thread is asked for', async () => {
    const report = await runFixture('1');
    expect(report.threadsCount).toBe(1);
    expect(report.log.some((line) => line.includes('multi-threaded'))).toBe(false);
    expect(report.maxRelativeError).toBeLessThan(1e-4);
  });
});
