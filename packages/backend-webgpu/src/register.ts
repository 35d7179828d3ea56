import * as tf from '@tensorflow/tfjs-core';
import { importOptionalPackage } from '@mlaan/core';
import { describeAdapter, formatAdapter, type AdapterDescription } from './adapter.js';
import { installNavigatorGpu, requestDawnAdapter, type DawnFlags, type GpuAdapterLike } from './dawn.js';
import { WebGpuUnavailableError } from './errors.js';
import { registerWebGpuTrainingKernels } from './kernels/training-kernels.js';

/** The tfjs backend name (tfjs's own WebGPU backend, made on the adapter chosen here). */
export const BACKEND_NAME = 'webgpu';

export interface RegisterOptions extends DawnFlags {
  /** Backend priority for tf.ready()'s automatic choice; default 1 (the cpu backend's), so importing never takes over. */
  priority?: number;
}

/** The part of @tensorflow/tfjs-backend-webgpu this package uses. */
interface TfjsWebGpuPackage {
  WebGPUBackend: new (device: unknown, adapterInfo?: unknown) => tf.KernelBackend;
}

const TFJS_WEBGPU_PACKAGE = '@tensorflow/tfjs-backend-webgpu';
const INSTALL = 'Install them with `npm install webgpu @tensorflow/tfjs-backend-webgpu`.';

interface Registration {
  key: string;
  adapter: AdapterDescription;
  /** Errors the device reported outside any error scope (a pipeline it could not build, ...). */
  deviceErrors: string[];
}

/** The part of a GPUDevice this package uses. */
interface DeviceEvents {
  addEventListener(type: 'uncapturederror', listener: (event: { error: { message: string } }) => void): void;
}

// Kept so that a flood of one error cannot grow without bound; the first ones say what went wrong.
const KEPT_DEVICE_ERRORS = 100;

// On globalThis, as tfjs's backend registry is: two copies of this module (bundled twice, or the
// sources and the build in one test run) must share the one registration.
const registrationKey = Symbol.for('@mlaan/backend-webgpu/registration');
const registry = globalThis as unknown as Record<symbol, Registration | undefined>;

async function importTfjsWebGpu(): Promise<TfjsWebGpuPackage> {
  let loaded: Partial<TfjsWebGpuPackage>;
  try {
    loaded = (await importOptionalPackage(TFJS_WEBGPU_PACKAGE)) as Partial<TfjsWebGpuPackage>;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new WebGpuUnavailableError(
      `The 'webgpu' backend needs the npm package ${TFJS_WEBGPU_PACKAGE}, which did not load (${reason}). ${INSTALL}`,
      { cause: error },
    );
  }
  if (typeof loaded.WebGPUBackend !== 'function') {
    throw new WebGpuUnavailableError(`${TFJS_WEBGPU_PACKAGE} exports no WebGPUBackend; install version 4.22 (\`npm install ${TFJS_WEBGPU_PACKAGE}@4.22.0\`).`);
  }
  return loaded as TfjsWebGpuPackage;
}

/**
 * The device limits and features tfjs's own WebGPU factory asks for: the adapter's largest
 * buffers and workgroups (the defaults are far smaller than any GPU's), and timestamps for
 * profiling where the adapter has them; also the adapter's most storage buffers per shader (the
 * default is 8), by which tfjs's Concat and this package's AddN group their inputs.
 */
function deviceDescriptor(adapter: GpuAdapterLike): Record<string, unknown> {
  const limits = adapter.limits;
  const requiredLimits: Record<string, number> = {};
  for (const name of [
    'maxComputeWorkgroupStorageSize',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupSizeX',
    'maxComputeInvocationsPerWorkgroup',
    'maxStorageBuffersPerShaderStage',
  ]) {
    const value = limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  return {
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits,
  };
}

function optionsKey(options: RegisterOptions): string {
  return JSON.stringify([options.graphicsApi ?? '', options.adapterName ?? '', options.powerPreference ?? 'high-performance']);
}

/** True when the tfjs backend has been made (its device exists) in this thread. */
function backendStarted(): boolean {
  return (tf.engine().registry as Record<string, unknown>)[BACKEND_NAME] != null;
}

/**
 * Registers the 'webgpu' TensorFlow.js backend on a Dawn adapter, with the training kernels this
 * package adds, and returns its name; select it with `selectBackend('webgpu')` from @mlaan/core
 * (or `await tf.setBackend('webgpu')`). The adapter is chosen here, once: `adapterName` and
 * `graphicsApi` pick among several. Safe to call again with the same options; with other options
 * only before the backend was started. Throws WebGpuUnavailableError naming the fix when a package
 * or the adapter is missing.
 */
export async function register(options: RegisterOptions = {}): Promise<string> {
  const key = optionsKey(options);
  const registration = registry[registrationKey];
  if (registration?.key === key && tf.findBackendFactory(BACKEND_NAME) != null) return BACKEND_NAME;
  if (registration != null && backendStarted()) {
    throw new WebGpuUnavailableError(
      `The 'webgpu' backend already runs on ${formatAdapter(registration.adapter)}; a thread has one WebGPU adapter. ` +
        'Choose the adapter in the first register() (or selectBackend) call of this thread.',
    );
  }
  const { gpu, adapter } = await requestDawnAdapter(options);
  installNavigatorGpu(gpu);
  // Imported after navigator.gpu exists: the package decides on import whether WebGPU is there.
  const { WebGPUBackend } = await importTfjsWebGpu();
  // tfjs's own factory would ask navigator.gpu for an adapter again; this one uses the adapter chosen above.
  if (tf.findBackendFactory(BACKEND_NAME) != null) tf.removeBackend(BACKEND_NAME);
  const registered: Registration = { key, adapter: describeAdapter(adapter), deviceErrors: [] };
  tf.registerBackend(
    BACKEND_NAME,
    async () => {
      const device = await adapter.requestDevice(deviceDescriptor(adapter));
      // WebGPU reports an invalid pipeline or command only as an event, and the submission that
      // held it computes nothing: keep the messages, so that tests and callers can see them.
      (device as DeviceEvents).addEventListener('uncapturederror', (event) => {
        if (registered.deviceErrors.length < KEPT_DEVICE_ERRORS) registered.deviceErrors.push(event.error.message);
      });
      return new WebGPUBackend(device, adapter.info);
    },
    options.priority ?? 1,
  );
  registerWebGpuTrainingKernels();
  registry[registrationKey] = registered;
  return BACKEND_NAME;
}

/** The adapter the registered 'webgpu' backend runs on (undefined before `register`). */
export function activeAdapter(): AdapterDescription | undefined {
  return registry[registrationKey]?.adapter;
}

/**
 * The errors the WebGPU device reported since the last call (and forgets them): a pipeline it
 * could not build, a command it refused. Each means that a queue submission computed nothing, so
 * results read since are wrong. Dawn also prints them.
 */
export function takeDeviceErrors(): string[] {
  const registration = registry[registrationKey];
  return registration ? registration.deviceErrors.splice(0) : [];
}
