import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of each thread of this process (Linux: /proc/self/task/<tid>/stat, in clock ticks of
 * 10 ms), for splitting a benchmark's CPU between the main thread, worker threads and native
 * thread pools. Empty where /proc is not there.
 */
export interface ThreadCpu {
  name: string;
  ms: number;
}

export function threadCpu(): Map<number, ThreadCpu> {
  const threads = new Map<number, ThreadCpu>();
  let ids: string[];
  try {
    ids = readdirSync('/proc/self/task');
  } catch {
    return threads;
  }
  for (const id of ids) {
    try {
      const stat = readFileSync(`/proc/self/task/${id}/stat`, 'utf8');
      // The name is in parentheses and may hold spaces; utime and stime are fields 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      threads.set(Number(id), { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ms: (Number(fields[11]) + Number(fields[12])) * 10 });
    } catch {
      // The thread exited between listing and reading.
    }
  }
  return threads;
}
