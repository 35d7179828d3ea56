/**
 * Slurm's spellings of a time limit (`--time`): minutes, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`,
 * `D-HH:MM:SS`. Parsed to seconds, and written back as `D-HH:MM:SS`.
 */
export function parseSlurmTime(text: string): number | string {
  const trimmed = text.trim();
  const day = /^(\d+)-(\d+)(?::(\d+))?(?::(\d+))?$/.exec(trimmed);
  const clock = /^(\d+)(?::(\d+))?(?::(\d+))?$/.exec(trimmed);
  let seconds: number;
  if (day) {
    const [, days, hours, minutes, secs] = day;
    seconds = ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes ?? 0)) * 60 + Number(secs ?? 0);
  } else if (clock) {
    const parts = [clock[1], clock[2], clock[3]].filter((part) => part !== undefined).map(Number);
    // Slurm: "minutes", "minutes:seconds", "hours:minutes:seconds".
    seconds = parts.length === 1 ? parts[0]! * 60 : parts.length === 2 ? parts[0]! * 60 + parts[1]! : (parts[0]! * 60 + parts[1]!) * 60 + parts[2]!;
  } else {
    return `Expected a Slurm time limit (minutes, HH:MM:SS or D-HH:MM:SS, e.g. 90 or 1-12:00:00), got '${text}'.`;
  }
  return seconds > 0 ? seconds : `A time limit must be longer than 0, got '${text}'.`;
}

export function formatSlurmTime(seconds: number): string {
  const total = Math.ceil(seconds);
  const days = Math.floor(total / 86_400);
  const pad = (n: number) => String(n).padStart(2, '0');
  const clock = `${pad(Math.floor((total % 86_400) / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
  return days > 0 ? `${days}-${clock}` : clock;
}
