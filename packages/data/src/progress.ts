/** A download's progress, reported as bytes arrive and once more when it ends. */
export interface ProgressEvent {
  label: string;
  received: number;
  /** From Content-Length; undefined when the server does not say. */
  total: number | undefined;
  done: boolean;
}

export type ProgressCallback = (event: ProgressEvent) => void;

/** `true`: a progress bar on stderr; `false`: silence; a function: your own reporting. */
export type ProgressOption = boolean | ProgressCallback;

interface TextStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

const megabytes = (bytes: number) => (bytes / 1e6).toFixed(1);

/**
 * A progress reporter: on a terminal, one bar redrawn in place at most ten times a second; on
 * anything else (CI logs, files), a plain line at every 10% (every 10 MB when the size is unknown).
 */
export function createProgressBar(stream: TextStream = process.stderr, now: () => number = Date.now): ProgressCallback {
  const started = now();
  let lastDraw = -Infinity;
  let lastStep = -1;
  return ({ label, received, total, done }) => {
    const seconds = Math.max((now() - started) / 1000, 1e-3);
    const rate = `${megabytes(received / seconds)} MB/s`;
    const amount = total ? `${megabytes(received)}/${megabytes(total)} MB` : `${megabytes(received)} MB`;
    const percent = total ? Math.min(100, Math.floor((100 * received) / total)) : undefined;
    if (stream.isTTY) {
      if (!done && now() - lastDraw < 100) return;
      lastDraw = now();
      const width = 30;
      const filled = percent === undefined ? 0 : Math.round((width * percent) / 100);
      const bar = percent === undefined ? '' : ` [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(percent).padStart(3)}%`;
      stream.write(`\r${label}${bar} ${amount} ${rate}\x1b[K${done ? '\n' : ''}`);
      return;
    }
    const step = percent === undefined ? Math.floor(received / 10e6) : Math.floor(percent / 10);
    if (!done && step === lastStep) return;
    lastStep = step;
    stream.write(`${label}: ${percent === undefined ? '' : `${percent}% `}${amount} ${rate}${done ? ' done' : ''}\n`);
  };
}

export function progressReporter(option: ProgressOption | undefined): ProgressCallback | undefined {
  if (option === false) return undefined;
  if (typeof option === 'function') return option;
  return createProgressBar();
}
