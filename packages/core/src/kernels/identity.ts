import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { kernelWithFallback } from './kernel-fallback.js';
import type { ReferenceCountingBackend } from './host-memory.js';

/**
 * Identity (what `tensor.clone()` runs) that shares the input's buffer by reference count, as the
 * cpu backend's Identity and the wasm backend's own Reshape do. tfjs-backend-wasm 4.x copies the
 * buffer instead, and the traced layers clone every tensor they keep for their backward (an
 * activation is kept by the layer that made it and the layer that reads it), so on wasm every
 * activation was held twice: ResNet-32 E2E at batch 128 held 550 MiB instead of ~350, against
 * wasm's 4 GiB ceiling. Strings keep the backend's own kernel.
 */
export function createSharingIdentityConfig(backendName: string, fallback: () => KernelConfig | undefined): KernelConfig {
  const config = kernelWithFallback({
    kernelName: 'Identity',
    backendName,
    fallback,
    missingFallback: "strings keep the backend's own Identity: import the backend package first",
    run: (args) => {
      const x = args.inputs.x as TensorInfo;
      if (x.dtype === 'string') return null;
      (args.backend as unknown as ReferenceCountingBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
  // The backend's Identity serves strings only, which need no setup of their own.
  return { kernelName: config.kernelName, backendName, kernelFunc: config.kernelFunc };
}
