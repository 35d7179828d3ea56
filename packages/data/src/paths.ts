import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The environment variable that names the data directory when no option does. */
export const DATA_DIR_ENVIRONMENT_VARIABLE = 'MLAAN_DATA_DIR';

/**
 * The data directory: the `dataDir` option, else `$MLAAN_DATA_DIR`, else a per-user cache folder
 * (`$XDG_CACHE_HOME/mlaan` or `~/.cache/mlaan`; `~/Library/Caches/mlaan` on macOS;
 * `%LOCALAPPDATA%\mlaan` on Windows).
 */
export function resolveDataDirectory(dataDir?: string): string {
  if (dataDir) return resolve(dataDir);
  const fromEnvironment = process.env[DATA_DIR_ENVIRONMENT_VARIABLE];
  if (fromEnvironment) return resolve(fromEnvironment);
  return defaultCacheDirectory();
}

export function defaultCacheDirectory(): string {
  if (process.platform === 'win32' && process.env.LOCALAPPDATA) return join(process.env.LOCALAPPDATA, 'mlaan');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'mlaan');
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mlaan');
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

