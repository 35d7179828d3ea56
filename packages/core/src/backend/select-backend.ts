import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { BackendNotAvailableError, ConfigError } from '../errors.js';
import { defineOptions, option } from '../training/define-plugin.js';
import { silenceNodeBackendHint } from './node-hint.js';
import { isPackageNotFound } from './optional-import.js';
import { backendProviders, findBackendProvider, type BackendDevice, type BackendProvider } from './providers.js';

/** 'auto' or the name of a provider; the built-in providers are listed in preference order. */
export type BackendChoice = 'auto' | 'tensorflow-gpu' | 'webgpu' | 'tensorflow' | 'onednn' | 'wasm' | 'cpu';

export interface SelectBackendOptions {
  /** Receives one line per decision; defaults to console.info. */
  log?: (message: string) => void;
  /** XNNPACK threads for the wasm backend; defaults to the number of CPU cores. */
  wasmThreads?: number;
  /**
   * GPU backends (webgpu): part of the name of the adapter to run on, e.g. 'H100' or 'RTX', where
   * a machine has several kinds; default: the backend's choice (WebGPU's high-performance one).
   */
  adapter?: string;
}

/** selectBackend's options as the plugins' option rules: unknown keys and bad values are ConfigErrors. */
const selectBackendOptions = defineOptions({
  call: 'selectBackend()',
  error: ConfigError,
  rules: {
    log: option.optional(
      option.custom<(message: string) => void>((value) => (typeof value === 'function' ? undefined : `must be a function receiving each decision's line; got ${String(value)}`)),
    ),
    wasmThreads: option.optional(option.integer({ min: 1, meaning: "the wasm backend's XNNPACK threads" })),
    adapter: option.optional(
      option.custom<string>((value) => (typeof value === 'string' && value !== '' ? undefined : `must be part of a GPU adapter's name, such as 'H100'; got ${JSON.stringify(value)}`)),
    ),
  },
});

export interface SkippedBackend {
  name: string;
  reason: string;
}

export interface SelectedBackend {
  /** The provider that was selected (never 'auto'). */
  choice: string;
  /** tf.getBackend() after selection. */
  tfjsBackend: string;
  packageName: string;
  description: string;
  /** The accelerator it runs on, for GPU backends (webgpu: the adapter). */
  device?: BackendDevice;
  /** For 'auto': the more preferred providers that could not be used, and why. */
  skipped: SkippedBackend[];
}

/** Why a provider could not be used; `notInstalled` separates "install it" from "it is broken". */
interface ProviderFailure {
  notInstalled: boolean;
  message: string;
}

type ResolvedOptions = Required<Omit<SelectBackendOptions, 'adapter'>> & Pick<SelectBackendOptions, 'adapter'>;

async function activate(
  provider: BackendProvider,
  options: ResolvedOptions,
  automatic: boolean,
): Promise<{ tfjsName: string } | { failure: ProviderFailure }> {
  let tfjsName = provider.tfjsName;
  try {
    const loadedName = await provider.load({ wasmThreads: options.wasmThreads, adapter: options.adapter, log: options.log });
    if (typeof loadedName === 'string') tfjsName = loadedName;
  } catch (error) {
    if (isPackageNotFound(error, provider.packageName)) {
      return { failure: { notInstalled: true, message: `${provider.packageName} is not installed` } };
    }
    const cause = error instanceof Error ? error.message : String(error);
    return { failure: { notInstalled: false, message: `${provider.packageName} failed to load: ${firstLine(cause)}` } };
  }
  const declined = automatic ? provider.declineAutomatic?.() : undefined;
  if (declined !== undefined) return { failure: { notInstalled: false, message: declined } };
  let switched = false;
  try {
    switched = await tf.setBackend(tfjsName);
    // Chosen on purpose: tfjs's "install tfjs-node" hint on the first tensor would be noise.
    if (switched) silenceNodeBackendHint(tfjsName);
    await tf.ready();
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error);
    return { failure: { notInstalled: false, message: `tfjs backend '${tfjsName}' failed to start: ${firstLine(cause)}` } };
  }
  if (!switched || tf.getBackend() !== tfjsName) {
    return {
      failure: {
        notInstalled: false,
        message: `${provider.packageName} loaded but tfjs backend '${tfjsName}' did not start (tf.setBackend returned false)`,
      },
    };
  }
  return { tfjsName };
}

/** The first line of a cause, without its own full stop: it is embedded in a sentence of ours. */
function firstLine(text: string): string {
  return (text.split('\n', 1)[0] ?? text).replace(/\.$/, '');
}

function deviceOf(provider: BackendProvider): { device?: BackendDevice } {
  const device = provider.device?.();
  return device ? { device } : {};
}

/** What `selectBackend` chose last in this thread. */
let lastSelected: SelectedBackend | undefined;

function selected(provider: BackendProvider, skipped: SkippedBackend[]): SelectedBackend {
  lastSelected = {
    choice: provider.name,
    tfjsBackend: tf.getBackend(),
    packageName: provider.packageName,
    description: provider.describeActive?.() ?? provider.description,
    ...deviceOf(provider),
    skipped,
  };
  return lastSelected;
}

/**
 * The provider name (a `selectBackend` choice) of tfjs's active backend in this thread: the one
 * `selectBackend` chose, while it is still active, else the first provider that registers the
 * active backend's name; undefined when none does (a backend registered by hand). What a worker
 * thread selects to run on the same backend as this one.
 */
export function activeBackendChoice(): string | undefined {
  const active = tf.getBackend();
  if (lastSelected && lastSelected.tfjsBackend === active) return lastSelected.choice;
  return backendProviders().find((provider) => provider.tfjsName === active)?.name;
}

function notAvailableError(provider: BackendProvider, failure: ProviderFailure): BackendNotAvailableError {
  const others = backendProviders()
    .filter((candidate) => candidate.name !== provider.name)
    .map((candidate) => `'${candidate.name}'`);
  const alternatives = `Or choose 'auto', which takes the first that works of ${others.join(', ')}.`;
  const hint = provider.installHint ? ` ${provider.installHint}` : '';
  if (failure.notInstalled) {
    return new BackendNotAvailableError(
      `Backend '${provider.name}' needs the npm package ${provider.packageName}, which is not installed. ` +
        `Install it with \`npm install ${provider.packageName}\`.${hint} ${alternatives}`,
    );
  }
  return new BackendNotAvailableError(
    `Backend '${provider.name}' is not usable: ${failure.message}. ` +
      `Reinstall ${provider.packageName} for this platform.${hint} ${alternatives}`,
  );
}

/**
 * Loads a tfjs backend and makes it the active one. 'auto' tries the registered providers in
 * preference order (tensorflow-gpu, webgpu, tensorflow, onednn, wasm, cpu) and takes the first
 * that loads and starts and does not decline (webgpu declines a software adapter), logging one
 * line per skipped provider and one for the choice. A named choice
 * that cannot be used throws BackendNotAvailableError saying which package to install.
 * Selecting wasm also registers the composed training kernels it lacks (see kernels/). Unknown
 * options and bad values are ConfigErrors.
 */
export async function selectBackend(
  choice: BackendChoice | (string & {}) = 'auto',
  options: SelectBackendOptions = {},
): Promise<SelectedBackend> {
  const given = selectBackendOptions.resolve(options);
  const resolved: ResolvedOptions = {
    log: given.log ?? ((message) => console.info(message)),
    wasmThreads: given.wasmThreads ?? availableParallelism(),
    adapter: given.adapter,
  };
  if (choice !== 'auto') {
    const provider = findBackendProvider(choice);
    if (provider == null) {
      throw new BackendNotAvailableError(
        `Unknown backend '${choice}'. Choose 'auto' or one of: ${backendProviders().map((candidate) => `'${candidate.name}'`).join(', ')} ` +
          '(or register a provider for it with registerBackendProvider).',
      );
    }
    const outcome = await activate(provider, resolved, false);
    if ('failure' in outcome) throw notAvailableError(provider, outcome.failure);
    const result = selected(provider, []);
    resolved.log(`backend: using ${provider.name}: ${result.description}`);
    return result;
  }

  const skipped: SkippedBackend[] = [];
  for (const provider of backendProviders()) {
    const outcome = await activate(provider, resolved, true);
    if ('failure' in outcome) {
      skipped.push({ name: provider.name, reason: outcome.failure.message });
      continue;
    }
    for (const skip of skipped) resolved.log(`backend: skipped ${skip.name}: ${skip.reason}`);
    const result = selected(provider, skipped);
    resolved.log(`backend: using ${provider.name}: ${result.description}`);
    return result;
  }
  throw new BackendNotAvailableError(
    `No backend could be started: ${skipped.map((skip) => `${skip.name} (${skip.reason})`).join('; ')}. ` +
      'Install @tensorflow/tfjs-backend-cpu (always works) or @tensorflow/tfjs-backend-wasm (faster).',
  );
}
