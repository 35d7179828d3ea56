import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';

/**
 * Multi-threaded wasm in Node.
 *
 * tfjs-backend-wasm 4.x always starts its single-threaded build in Node (its
 * WASM_HAS_MULTITHREAD_SUPPORT flag returns false there), and its threaded loader hands
 * Emscripten's pthread workers a Blob URL, which Node's worker_threads cannot run. The package
 * nevertheless ships the threaded build (wasm-out/tfjs-backend-wasm-threaded-simd.{js,wasm}) and
 * the worker script's source. So we start that build ourselves: the worker script is written to a
 * real file, the Emscripten factory is given its path, and the resulting module is wrapped in the
 * package's own BackendWasm class exactly as the package's init() would. tfjs's wasm kernels are
 * registered by backend name and work unchanged. Anything failing falls back to tfjs's own
 * single-threaded SIMD build, with one log line.
 */

const WASM_BACKEND_PRIORITY = 2;
const THREADED_START_TIMEOUT_MS = 60_000;

/** The part of @tensorflow/tfjs-backend-wasm's exports this module uses. */
interface WasmPackageExports {
  BackendWasm: new (module: unknown) => tf.KernelBackend;
  setThreadsCount(threads: number): void;
  getThreadsCount(): number;
}

/** The part of an Emscripten pthreads module used here. */
interface EmscriptenThreadedModule {
  cwrap(name: string, returnType: string | null, argumentTypes: string[]): (...args: unknown[]) => unknown;
  PThread?: { runningWorkers?: Array<{ unref?: () => void }> };
  tfjs?: unknown;
}

/** Node's WebAssembly global; the DOM lib that would declare it is not part of this build. */
interface WebAssemblyApi {
  instantiate(binary: Uint8Array, imports: object): Promise<{ instance: object; module: object }>;
}

type EmscriptenFactory = (config: Record<string, unknown>) => Promise<EmscriptenThreadedModule>;

interface WasmStatus {
  build: 'multi-threaded SIMD' | 'single-threaded SIMD' | 'single-threaded';
  threads: number;
}

let wasmPackage: WasmPackageExports | undefined;
let requestedThreads = 1;
let threadedFactoryInstalled = false;
let activeStatus: WasmStatus | undefined;

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

function isWasmInitialised(): boolean {
  return tf.engine().registry['wasm'] != null;
}

/**
 * Configures the wasm backend (imported as `wasmExports`) to start with `threads` XNNPACK threads.
 * Must run before the wasm backend's first use; afterwards the thread count is fixed and a
 * different request is only logged.
 */
export async function prepareWasmBackend(
  wasmExports: Record<string, unknown>,
  threads: number,
  log: (message: string) => void,
): Promise<void> {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new ConfigError(`wasmThreads must be a positive integer, got ${threads}; pass e.g. os.availableParallelism().`);
  }
  wasmPackage = wasmExports as unknown as WasmPackageExports;
  if (isWasmInitialised()) {
    const current = activeStatus?.threads ?? safeThreadsCount();
    if (current !== threads) {
      log(
        `wasm: backend already running with ${current} thread(s); wasmThreads=${threads} ignored ` +
          '(select the backend before any wasm computation to choose the thread count)',
      );
    }
    return;
  }
  requestedThreads = threads;
  wasmPackage.setThreadsCount(threads);
  if (!isNode()) return; // Browsers: tfjs's own flags decide whether its threaded build can run.
  if (threads > 1 && !threadedFactoryInstalled) installThreadedFactory(log);
  if (activeStatus == null) {
    // Recorded here for the single-threaded path; the threaded factory overwrites it when it starts.
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    activeStatus = { build: simd ? 'single-threaded SIMD' : 'single-threaded', threads: 1 };
  }
}

/** How the active wasm backend came up, for SelectedBackend.description. */
export function describeWasmBackend(): string {
  const threads = safeThreadsCount() ?? activeStatus?.threads ?? 1;
  const build = activeStatus?.build ?? 'single-threaded SIMD';
  return `WebAssembly with XNNPACK (@tensorflow/tfjs-backend-wasm), ${build} build, ${threads} thread(s)`;
}

function safeThreadsCount(): number | undefined {
  try {
    return wasmPackage?.getThreadsCount();
  } catch {
    return undefined; // Not initialised yet.
  }
}

function installThreadedFactory(log: (message: string) => void): void {
  const originalFactory = tf.findBackendFactory('wasm');
  if (originalFactory == null) return;
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      if (requestedThreads > 1 && wasmPackage != null) {
        try {
          const backend = await createThreadedWasmBackend(wasmPackage, requestedThreads);
          activeStatus = { build: 'multi-threaded SIMD', threads: wasmPackage.getThreadsCount() };
          return backend;
        } catch (error) {
          log(
            `wasm: the multi-threaded build did not start (${error instanceof Error ? error.message : String(error)}); ` +
              'using the single-threaded SIMD build',
          );
        }
      }
      const backend = await originalFactory();
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      activeStatus = { build: simd ? 'single-threaded SIMD' : 'single-threaded', threads: 1 };
      return backend;
    },
    WASM_BACKEND_PRIORITY,
  );
  threadedFactoryInstalled = true;
}

interface ThreadedBuildFiles {
  script: string;
  binary: string;
  workerSourceModule: string;
  version: string;
}

function locateThreadedBuild(): ThreadedBuildFiles {
  const require = createRequire(import.meta.url);
  const packageJsonPath = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  const { version } = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { version: string };
  if (!version.startsWith('4.')) {
    throw new Error(`@tensorflow/tfjs-backend-wasm ${version} is not a 4.x version, whose loader this mirrors`);
  }
  const wasmOut = join(dirname(packageJsonPath), 'wasm-out');
  const files = {
    script: join(wasmOut, 'tfjs-backend-wasm-threaded-simd.js'),
    binary: join(wasmOut, 'tfjs-backend-wasm-threaded-simd.wasm'),
    workerSourceModule: join(wasmOut, 'tfjs-backend-wasm-threaded-simd.worker.js'),
    version,
  };
  for (const path of [files.script, files.binary, files.workerSourceModule]) {
    if (!existsSync(path)) throw new Error(`${path} is missing from @tensorflow/tfjs-backend-wasm`);
  }
  return files;
}

/**
 * Writes the pthread worker script to a real file (content-addressed, so concurrent processes
 * share it safely) and returns its path. The package ships it as a JS string export; tfjs escapes
 * its newlines the same way before turning it into a Blob.
 */
function materialiseWorkerScript(files: ThreadedBuildFiles): string {
  const require = createRequire(import.meta.url);
  const { wasmWorkerContents } = require(files.workerSourceModule) as { wasmWorkerContents?: unknown };
  if (typeof wasmWorkerContents !== 'string') {
    throw new Error(`${files.workerSourceModule} does not export wasmWorkerContents`);
  }
  const source = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const path = join(tmpdir(), `mlaan-tfjs-backend-wasm-${files.version}-${hash}.worker.js`);
  if (!existsSync(path) || readFileSync(path, 'utf8') !== source) {
    // A syntax error in a worker would surface as an uncaught exception in the main process, past
    // any fallback; compiling it here turns that into an ordinary error.
    new Script(source, { filename: path });
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, source);
    renameSync(temporary, path);
  }
  return path;
}

async function createThreadedWasmBackend(
  wasmExports: WasmPackageExports,
  threads: number,
): Promise<tf.KernelBackend> {
  if (typeof SharedArrayBuffer !== 'function') throw new Error('SharedArrayBuffer is unavailable');
  const files = locateThreadedBuild();
  const workerPath = materialiseWorkerScript(files);
  const require = createRequire(import.meta.url);
  const factory = require(files.script) as EmscriptenFactory;
  const binary = await readFile(files.binary);

  let failStart: (error: Error) => void = () => {};
  const startFailed = new Promise<never>((_, reject) => {
    failStart = reject;
  });
  const timer = setTimeout(
    () => failStart(new Error(`no start within ${THREADED_START_TIMEOUT_MS / 1000} s`)),
    THREADED_START_TIMEOUT_MS,
  );
  timer.unref();
  // Emscripten sets globalThis.Worker to worker_threads.Worker for its own use; undo that afterwards
  // so code that sniffs for a browser Worker is not misled. Its pool of workers is created while
  // the factory starts, so it needs the global only until then.
  const hadWorkerGlobal = Object.prototype.hasOwnProperty.call(globalThis, 'Worker');
  const previousWorker: unknown = (globalThis as { Worker?: unknown }).Worker;
  let module: EmscriptenThreadedModule;
  try {
    module = await Promise.race([
      factory({
        locateFile: (file: string, prefix: string) => (file.endsWith('.worker.js') ? workerPath : prefix + file),
        instantiateWasm: (
          imports: { env: Record<string, unknown> },
          receiveInstance: (instance: object, module: object) => void,
        ) => {
          // tfjs caps XNNPACK's pool at emscripten_num_logical_cores() / 2, assuming two hardware
          // threads per core; report twice the requested count so the request is what we get.
          imports.env['emscripten_num_logical_cores'] = () => 2 * threads;
          const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
          webAssembly.instantiate(binary, imports).then(
            (result) => receiveInstance(result.instance, result.module),
            (error: unknown) => failStart(error instanceof Error ? error : new Error(String(error))),
          );
          return {};
        },
        onAbort: (reason: unknown) => failStart(new Error(`aborted: ${String(reason)}`)),
      }),
      startFailed,
    ]);
  } finally {
    clearTimeout(timer);
    if (hadWorkerGlobal) (globalThis as { Worker?: unknown }).Worker = previousWorker;
    else delete (globalThis as { Worker?: unknown }).Worker;
  }
  // The same bridge tfjs-backend-wasm's init() attaches before constructing BackendWasm.
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  wasmExports.setThreadsCount(threads);
  const backend = new wasmExports.BackendWasm(module);
  // XNNPACK's pool threads live for the whole process; unreferenced, they do not keep Node alive.
  for (const worker of module.PThread?.runningWorkers ?? []) worker.unref?.();
  return backend;
}
