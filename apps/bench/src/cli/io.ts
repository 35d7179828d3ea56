import { quoteArgument } from '../shell.js';

/** Where the CLI writes: the process's streams, or a test's. */
export interface IO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
}

/** Exit codes: 0 done, 1 a configuration failed, 2 bad options, 130 interrupted (resume by rerunning). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

export function commandLine(argv: readonly string[]): string {
  return ['mlaan-bench', ...argv].map(quoteArgument).join(' ');
}

/** `argv` without `option` and its value (`--shard 2/4` or `--shard=2/4`). */
export function withoutOption(argv: readonly string[], option: string): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === option) i += 1;
    else if (!argv[i]!.startsWith(`${option}=`)) kept.push(argv[i]!);
  }
  return kept;
}
