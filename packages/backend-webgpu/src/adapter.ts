import type { GpuAdapterLike } from './dawn.js';

/** The GPU adapter the 'webgpu' backend runs on, as WebGPU describes it. */
export interface AdapterDescription {
  /** e.g. 'nvidia', 'amd', 'intel', 'apple', 'mesa' (may be empty where the driver says nothing). */
  vendor: string;
  /** e.g. 'hopper', 'rdna-3', 'gen-12lp', 'software'. */
  architecture: string;
  /** The device's name, e.g. 'NVIDIA H100 80GB HBM3' or 'llvmpipe (LLVM 15.0.6, 256 bits)'. */
  device: string;
  /** The driver's longer description (driver and version). */
  description: string;
  /**
   * True for a CPU emulating a GPU (Mesa's lavapipe/llvmpipe, SwiftShader, Microsoft's WARP):
   * right for correctness tests, never for speed. `selectBackend('auto')` never picks one.
   */
  software: boolean;
}

// Drivers that run on the CPU, for drivers that do not set isFallbackAdapter.
const SOFTWARE_DEVICE_NAMES = /llvmpipe|lavapipe|swiftshader|microsoft basic render|\bwarp\b/i;

export function describeAdapter(adapter: GpuAdapterLike): AdapterDescription {
  const info = adapter.info;
  const vendor = info.vendor ?? '';
  const architecture = info.architecture ?? '';
  const device = info.device ?? '';
  const description = info.description ?? '';
  const software =
    info.isFallbackAdapter === true ||
    adapter.isFallbackAdapter === true ||
    architecture === 'software' ||
    SOFTWARE_DEVICE_NAMES.test(`${device} ${description}`);
  return { vendor, architecture, device, description, software };
}

/** One line, e.g. 'nvidia hopper: NVIDIA H100 80GB HBM3' or 'mesa software: llvmpipe ... (software device)'. */
export function formatAdapter(adapter: AdapterDescription): string {
  const kind = [adapter.vendor, adapter.architecture].filter((part) => part !== '').join(' ');
  const name = adapter.device || adapter.description || 'unnamed adapter';
  return `${kind ? `${kind}: ` : ''}${name}${adapter.software ? ' (software device: a CPU emulating a GPU)' : ''}`;
}
