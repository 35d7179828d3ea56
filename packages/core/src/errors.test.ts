import { describe, expect, it } from 'vitest';
import { CorruptCheckpointError, KernelError, MlaanError, PipelineWorkerError, withoutDoubledFullStops } from './errors.js';

// Issue 25, item 8: "No backend found in registry.." — an embedded message's own full stop,
// then the sentence's.
describe('error messages never double a full stop', () => {
  it('an embedded message ending with a full stop gives one full stop', () => {
    const worker = new PipelineWorkerError(1, [2, 4], 'No backend found in registry.');
    expect(worker.message).toContain('failed: No backend found in registry. Every worker was stopped');
    expect(worker.message).not.toMatch(/[^.]\.\.(\s|$)/);
    const checkpoint = new CorruptCheckpointError('/tmp/run', 'the manifest is not JSON.');
    expect(checkpoint.message).toBe('Checkpoint /tmp/run: the manifest is not JSON. Delete the whole folder /tmp/run (not one file in it) to start over.');
    expect(new KernelError(`Conv2D failed: ${'bad shape.'}.`).message).toBe('Conv2D failed: bad shape.');
  });

  it('keeps ranges, ellipses and paths', () => {
    expect(withoutDoubledFullStops('modules 0..3 of ../shared/datasets; wait... then go.')).toBe('modules 0..3 of ../shared/datasets; wait... then go.');
    expect(new MlaanError('a.. b..').message).toBe('a. b.');
  });
});
