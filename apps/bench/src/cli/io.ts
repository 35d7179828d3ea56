/** Where the CLI writes: the process's streams, or a test's. */
export interface IO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
}

/** Exit codes: 0 done, 1 a configuration failed, 2 bad options, 130 interrupted (resume by rerunning). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** An argument as a shell would need it typed, for the command line a result records. */
export function quoteArgument(argument: string): string {
  return /^[\w@%+=:,./-]+$/.test(argument) ? argument : `'${argument.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv: readonly string[]): string {
  return ['mlaan-bench', ...argv].map(quoteArgument).join(' ');
}
