/** An argument as a POSIX shell needs it typed: as it is when it is plain, else in single quotes. */
export function quoteArgument(argument: string): string {
  return /^[\w@%+=:,./-]+$/.test(argument) ? argument : `'${argument.replace(/'/g, `'\\''`)}'`;
}
