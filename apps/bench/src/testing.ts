// Test helpers of the bench's suites, in one place: the CLI run in-process, scratch folders and
// the runs a folder holds. Data and fixtures come from @mlaan/test-support (cifarFolder, dataFolder).
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './cli/program.js';

/** The CLI on `argv` in this process (no terminal), with what it printed. */
export async function runCli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t), isTTY: false } });
  return { code, stdout, stderr };
}

/** The configuration folders under `<out>/runs`, sorted; none when there is no such folder. */
export async function runFolders(out: string): Promise<string[]> {
  return existsSync(join(out, 'runs')) ? (await readdir(join(out, 'runs'))).sort() : [];
}

/** Temporary folders a suite makes; `removeScratchFolders` in its afterAll deletes them. */
const scratch: string[] = [];

export async function scratchFolder(name: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), `mlaan-bench-${name}-`));
  scratch.push(folder);
  return folder;
}

export async function removeScratchFolders(): Promise<void> {
  for (const folder of scratch.splice(0)) await rm(folder, { recursive: true, force: true });
}
