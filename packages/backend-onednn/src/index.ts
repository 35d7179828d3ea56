export { register, isAvailable, type RegisterOptions } from './register.js';
export { OnednnBackend, BACKEND_NAME } from './backend.js';
export { OnednnUnavailableError } from './errors.js';
export {
  ReluGrad,
  kernelCounts,
  resetKernelCounts,
  type KernelCounts,
} from './kernels/index.js';
export { loadAddon, type OnednnAddon, type CacheStats } from './native.js';
