import { importOptionalPackage } from '@mlaan/core';
import { WebGpuUnavailableError } from './errors.js';

/** What a WebGPU adapter says about itself (GPUAdapterInfo), as far as this package reads it. */
export interface GpuAdapterInfoLike {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** Newer WebGPU: on the info; older: on the adapter. */
  readonly isFallbackAdapter?: boolean;
}

/** The part of a GPUAdapter this package uses (no dependency on the WebGPU type package). */
export interface GpuAdapterLike {
  readonly info: GpuAdapterInfoLike;
  readonly isFallbackAdapter?: boolean;
  readonly features: { has(name: string): boolean };
  readonly limits: Record<string, number>;
  requestDevice(descriptor?: Record<string, unknown>): Promise<unknown>;
}

/** The part of `navigator.gpu` this package uses. */
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<GpuAdapterLike | null>;
}

/** The part of the `webgpu` package (Google's Dawn for Node) this package uses. */
interface DawnPackage {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/** How Dawn should pick its adapter: its `create` flags, in this package's words. */
export interface DawnFlags {
  /**
   * Dawn's graphics API: 'vulkan' (Linux default), 'metal', 'd3d12', 'opengl', ... (Dawn's
   * `backend` flag; the DAWNNODE_BACKEND environment variable when left out).
   */
  graphicsApi?: string;
  /**
   * Part of the adapter's name as the driver gives it, e.g. 'H100' or 'llvmpipe' (Dawn's `adapter`
   * flag): the first adapter whose name contains it. `listAdapters()` gives the names.
   */
  adapterName?: string;
  /** Which adapter WebGPU should prefer where there are several kinds; default 'high-performance' (as tfjs). */
  powerPreference?: 'low-power' | 'high-performance';
}

const DAWN_PACKAGE = 'webgpu';

/** Dawn, an optional peer, imported at run time (core's importOptionalPackage: bundles can hand it over). */
async function importDawn(): Promise<DawnPackage> {
  let loaded: Partial<DawnPackage>;
  try {
    loaded = (await importOptionalPackage(DAWN_PACKAGE)) as Partial<DawnPackage>;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new WebGpuUnavailableError(
      `The 'webgpu' backend needs the npm package webgpu (Google's Dawn for Node), which did not load (${reason}). ` +
        'Install it with `npm install webgpu @tensorflow/tfjs-backend-webgpu`.',
      { cause: error },
    );
  }
  if (typeof loaded.create !== 'function' || loaded.globals == null) {
    throw new WebGpuUnavailableError(
      'The installed npm package webgpu exports no create() and globals; install a version this package supports ' +
        '(`npm install webgpu@^0.6.2`).',
    );
  }
  return loaded as DawnPackage;
}

function dawnFlagList(flags: DawnFlags): string[] {
  const list: string[] = [];
  if (flags.graphicsApi) list.push(`backend=${flags.graphicsApi}`);
  if (flags.adapterName) list.push(`adapter=${flags.adapterName}`);
  return list;
}

/**
 * A Dawn GPU object (what `navigator.gpu` is in a browser). Dawn's WebGPU classes and constants
 * (GPUBufferUsage, GPUMapMode, ...) are made global, as a browser has them: tfjs's WebGPU backend
 * reads them from the global scope. Each call makes a new Dawn instance with its own flags.
 */
export async function createDawnGpu(flags: DawnFlags = {}): Promise<GpuLike> {
  const dawn = await importDawn();
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  return dawn.create(dawnFlagList(flags));
}

/**
 * Makes `gpu` the global `navigator.gpu`. tfjs's WebGPU backend checks for it when its package is
 * imported (it registers its kernels only then) and when a backend is made. Node 20 has no
 * `navigator`; Node 21 and later have one without `gpu`.
 */
export function installNavigatorGpu(gpu: GpuLike): void {
  const scope = globalThis as { navigator?: { gpu?: GpuLike } };
  if (scope.navigator == null) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    return;
  }
  if (scope.navigator.gpu === gpu) return;
  Object.defineProperty(scope.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
}

const NO_ADAPTER_FIX =
  "WebGPU in Node runs on the system's Vulkan driver (Linux), Metal (macOS) or D3D12 (Windows). On Linux install the GPU " +
  "vendor's Vulkan driver, or for tests without a GPU Mesa's software device: on Debian 12 " +
  "`apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` (Debian's own Mesa 22 is too old for Dawn; " +
  'scripts/install-system-packages.sh in the mlaan-js repository does this), elsewhere `apt-get install mesa-vulkan-drivers libvulkan1`.';

/** A new Dawn instance and the adapter it picks under `flags`; throws WebGpuUnavailableError naming the fix. */
export async function requestDawnAdapter(flags: DawnFlags = {}): Promise<{ gpu: GpuLike; adapter: GpuAdapterLike }> {
  const gpu = await createDawnGpu(flags);
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: flags.powerPreference ?? 'high-performance' });
  } catch (error) {
    // Dawn rejects when a named adapter or graphics API is missing, listing the adapters it found.
    const reason = error instanceof Error ? error.message : String(error);
    throw new WebGpuUnavailableError(`WebGPU (Dawn) could not find the adapter asked for: ${reason.replace(/\n/g, ' ')}`, { cause: error });
  }
  if (adapter == null) throw new WebGpuUnavailableError(`WebGPU (Dawn) found no GPU adapter. ${NO_ADAPTER_FIX}`);
  return { gpu, adapter };
}

/** An adapter Dawn can run on, named as `adapterName` matches it. */
export interface ListedAdapter {
  /** Dawn's graphics API for it: 'vulkan', 'metal', 'd3d12', ... */
  graphicsApi: string;
  /** The driver's name for it, e.g. 'NVIDIA H100 80GB HBM3' or 'llvmpipe (LLVM 15.0.6, 256 bits)'. */
  name: string;
}

// A name no adapter has, so that Dawn rejects the request and lists what it found.
const NO_SUCH_ADAPTER = 'mlaan-list-adapters: no adapter has this name';
const LISTED_ADAPTER = /^ \* backend: '([^']*)', name: '(.*)'$/;

/**
 * Every adapter Dawn finds for `graphicsApi` (default: the platform's own), in its order. WebGPU
 * has no call that lists adapters; Dawn's Node binding lists them when a named adapter is
 * missing, and this reads that list. Adapters with the same name (several GPUs of one model)
 * appear once each, but `adapterName` can only pick the first of them.
 */
export async function listAdapters(graphicsApi?: string): Promise<ListedAdapter[]> {
  const gpu = await createDawnGpu({ ...(graphicsApi ? { graphicsApi } : {}), adapterName: NO_SUCH_ADAPTER });
  try {
    const adapter = await gpu.requestAdapter();
    // Resolved with nothing: Dawn found no adapter at all.
    if (adapter == null) return [];
    throw new WebGpuUnavailableError(`listAdapters: Dawn matched '${NO_SUCH_ADAPTER}' to an adapter; this version of webgpu names adapters differently.`);
  } catch (error) {
    if (error instanceof WebGpuUnavailableError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    return message
      .split('\n')
      .map((line) => LISTED_ADAPTER.exec(line))
      .filter((match): match is RegExpExecArray => match != null)
      .map((match) => ({ graphicsApi: match[1]!, name: match[2]! }));
  }
}
