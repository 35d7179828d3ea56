export { register, activeAdapter, takeDeviceErrors, BACKEND_NAME, type RegisterOptions } from './register.js';
export { listAdapters, type ListedAdapter, type DawnFlags } from './dawn.js';
export { describeAdapter, formatAdapter, type AdapterDescription } from './adapter.js';
export { WebGpuUnavailableError } from './errors.js';
export { webGpuTrainingKernels, registerWebGpuTrainingKernels } from './kernels/training-kernels.js';
