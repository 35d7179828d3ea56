import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('./pipeline-failures.fixture.ts', import.meta.url));

/** Runs one scenario in its own Node process: it must exit by itself, with code 0, and print its outcome. */
async function run(scenario: string): Promise<Record<string, unknown>> {
  const { code, signal, stdout, stderr } = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', FIXTURE, scenario], { encoding: 'utf8', timeout: 300_000 }, (_, stdout, stderr) =>
      resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr }),
    );
  });
  expect(signal, stderr).toBeNull();
  expect(code, stderr).toBe(0);
  const line = stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as Record<string, unknown>;
}

describe('the pipeline never takes the process down (each scenario in a child process that exits cleanly)', () => {
  it('a bad label inside train(): the for await that reads it rejects with the label error; the steps before it stand', async () => {
    const outcome = await run('bad-label-in-train');
    expect(outcome.steps).toBe(2);
    expect(outcome.error).toMatchObject({ name: 'ShapeError', message: expect.stringMatching(/label 10 at index 3/) });
  });

  it('a worker that throws: PipelineWorkerError reaches the for await', async () => {
    const outcome = await run('worker-throws');
    expect(outcome.error).toMatchObject({ name: 'PipelineWorkerError', message: expect.stringMatching(/injected failure in module 3/) });
  });

  it("workers take the main thread's backend when the recipe names none", async () => {
    expect(await run('default-backend')).toMatchObject({ steps: 3, backend: 'cpu' });
  });

  it('a rejected step nobody awaits is not an unhandled rejection, and the run goes on', async () => {
    expect(await run('unawaited-rejection')).toMatchObject({ steps: 1 });
  });

  it('bad options are errors of the library, in the words of the API', async () => {
    const { errors } = (await run('bad-options')) as { errors: { name: string; message: string }[] };
    expect(errors.map((e) => e.name)).toEqual(['ConfigError', 'ConfigError', 'ConfigError', 'ConfigError', 'ConfigError']);
    expect(errors[0]!.message).toMatch(/placement must be 'measured', 'count', or one \[first, end\) module range per worker; got "fastest"/);
    expect(errors[1]!.message).toMatch(/queueCapacity must be an integer >= 1/);
    expect(errors[2]!.message).toMatch(/recipe is required/);
    expect(errors[3]!.message).toMatch(/unknown option\(s\) 'worker' \('worker': did you mean 'workers'\?\)/);
    expect(errors[4]!.message).toMatch(/needs its options/);
  });
});
