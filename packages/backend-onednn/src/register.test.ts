import * as tf from '@tensorflow/tfjs-core';
import { BackendNotAvailableError, MlaanError } from '@mlaan/core';
import { describe, expect, it } from 'vitest';

import { OnednnUnavailableError } from './errors.js';
import { loadAddonFrom } from './native.js';
import { isAvailable, register } from './register.js';
import { addonUnavailableReason, suiteTitle } from './test-support.js';

describe('onednn addon loading', () => {
  it('turns a missing addon into an error that names libdnnl-dev and the rebuild command', () => {
    const { addon, error } = loadAddonFrom('/nonexistent/build/Release/onednn.node');
    expect(addon).toBeUndefined();
    expect(error).toBeInstanceOf(OnednnUnavailableError);
    // One error hierarchy: callers of selectBackend catch every unavailable backend alike.
    expect(error).toBeInstanceOf(BackendNotAvailableError);
    expect(error).toBeInstanceOf(MlaanError);
    expect(error!.name).toBe('OnednnUnavailableError');
    expect(error!.message).toContain('libdnnl-dev');
    expect(error!.message).toContain('npm rebuild @mlaan/backend-onednn');
    expect(error!.message).toContain('/nonexistent/build/Release/onednn.node');
  });

  it('isAvailable() agrees with whether the addon loads here', () => {
    expect(isAvailable()).toBe(addonUnavailableReason === null);
  });

  it.skipIf(addonUnavailableReason === null)('register() rejects with OnednnUnavailableError when the addon is not built', async () => {
    await expect(register()).rejects.toBeInstanceOf(OnednnUnavailableError);
  });
});

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('register() with the addon built'), () => {
  it('registers the onednn backend with every cpu kernel, twice without complaint', async () => {
    expect(await register({ threads: 2 })).toBe('onednn');
    expect(await register()).toBe('onednn');
    expect(await tf.setBackend('onednn')).toBe(true);
    expect(tf.getBackend()).toBe('onednn');
    const cpuKernels = tf.getKernelsForBackend('cpu').map((config) => config.kernelName);
    const onednnKernels = new Set(tf.getKernelsForBackend('onednn').map((config) => config.kernelName));
    for (const name of cpuKernels) expect(onednnKernels.has(name), name).toBe(true);
    for (const name of ['MlaanBatchNormTraining', 'MlaanBatchNormTrainingGrad', 'MlaanReluGrad']) {
      expect(onednnKernels.has(name), name).toBe(true);
    }
  });

  it('reports oneDNN 2.x or newer on this CPU', () => {
    const [major] = (tf.backend() as unknown as { addon: { version(): number[] } }).addon.version();
    expect(major).toBeGreaterThanOrEqual(2);
  });
});
