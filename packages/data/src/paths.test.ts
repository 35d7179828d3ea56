import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultCacheDirectory, resolveDataDirectory } from './index.js';

describe('the data directory', () => {
  const saved = { data: process.env.MLAAN_DATA_DIR, xdg: process.env.XDG_CACHE_HOME };
  afterEach(() => {
    for (const [key, value] of [['MLAAN_DATA_DIR', saved.data], ['XDG_CACHE_HOME', saved.xdg]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('comes from the option, else MLAAN_DATA_DIR, else the per-user cache', () => {
    process.env.MLAAN_DATA_DIR = '/from/environment';
    expect(resolveDataDirectory('relative/option')).toBe(resolve('relative/option'));
    expect(resolveDataDirectory()).toBe('/from/environment');
    delete process.env.MLAAN_DATA_DIR;
    expect(resolveDataDirectory()).toBe(defaultCacheDirectory());
  });

  it.runIf(process.platform === 'linux')('follows XDG_CACHE_HOME on Linux, else ~/.cache/mlaan', () => {
    process.env.XDG_CACHE_HOME = '/xdg/cache';
    expect(defaultCacheDirectory()).toBe('/xdg/cache/mlaan');
    delete process.env.XDG_CACHE_HOME;
    expect(defaultCacheDirectory()).toBe(join(homedir(), '.cache', 'mlaan'));
  });
});
