import { selectBackend, type BackendChoice } from '@mlaan/core';

/**
 * For the parity tests: each backend they check and whether it loads here (cpu and wasm always;
 * onednn where its addon builds and loads), so a test can `skipIf` the ones that do not.
 */
export async function backendsThatLoad(): Promise<[BackendChoice, boolean][]> {
  const available: [BackendChoice, boolean][] = [];
  for (const backend of ['cpu', 'wasm', 'onednn'] as const) {
    try {
      await selectBackend(backend, { log: () => {} });
      available.push([backend, true]);
    } catch {
      available.push([backend, false]);
    }
  }
  return available;
}
