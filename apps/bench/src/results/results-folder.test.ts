import { describe, expect, it } from 'vitest';
import { configId } from '../configuration/configuration-id.js';
import { expandGrid } from '../configuration/grid.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import { runFolderName } from './results-folder.js';

describe('runFolderName', () => {
  const [config] = expandGrid(resolveSettings('smoke', {}));

  it('is the configuration id for the sequential trainer, so earlier results keep their folders', () => {
    expect(runFolderName(config!)).toBe(configId(config!));
    expect(runFolderName(config!, 1, 'delayed')).toBe(configId(config!));
  });

  it('names the workers and the exchange of a pipelined run, so a sequential result is never taken for it', () => {
    const exact = runFolderName(config!, 2, 'exact');
    const delayed = runFolderName(config!, 2, 'delayed');
    expect(exact).toBe(`${configId(config!)}-workers2-exact`);
    expect(new Set([configId(config!), exact, delayed, runFolderName(config!, 3, 'exact')]).size).toBe(4);
  });
});
