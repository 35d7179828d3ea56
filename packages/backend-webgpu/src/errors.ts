import { BackendNotAvailableError } from '@mlaan/core';

/**
 * WebGPU cannot run here: a package is missing, Dawn found no adapter (no Vulkan, Metal or D3D12
 * driver), or the adapter asked for does not exist. The message names the fix.
 */
export class WebGpuUnavailableError extends BackendNotAvailableError {}
