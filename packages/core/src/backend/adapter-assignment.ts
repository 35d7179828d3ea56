import { BackendNotAvailableError } from '../errors.js';
import { findBackendProvider } from './providers.js';

/** Which adapter each of `workers` threads should take; undefined: the backend's own choice. */
export interface AdapterAssignment {
  adapters: (string | undefined)[];
  /** Every device the backend listed. */
  devices: string[];
  /** Why workers share a device, when they do (fewer distinguishable devices than workers). */
  note?: string;
}

/**
 * One adapter per worker where the backend lists several devices (GPU backends: webgpu), round
 * robin over the devices whose names tell them apart. A device name is how a worker asks for its
 * adapter (`selectBackend(choice, { adapter })`), and Dawn takes the first adapter whose name
 * contains it, so of several devices with one name (several GPUs of one model) only the first can
 * be asked for: workers beyond the distinguishable devices share, and `note` says so. Backends
 * without devices (the CPU ones) leave every worker to the backend's choice. Call after the
 * backend was selected (the provider has loaded).
 */
export async function assignAdapters(choice: string, workers: number): Promise<AdapterAssignment> {
  const provider = findBackendProvider(choice);
  if (provider == null) throw new BackendNotAvailableError(`assignAdapters: no backend provider named '${choice}'.`);
  const devices = (await provider.listDevices?.()) ?? [];
  const distinct = [...new Set(devices)].filter((name) => devices.indexOf(name) === devices.lastIndexOf(name));
  const nameable = [...new Set(devices)].map((name) => (distinct.includes(name) ? name : undefined));
  if (devices.length <= 1 || distinct.length === 0) {
    const note =
      devices.length > 1
        ? `the ${devices.length} devices share the name '${devices[0]}', so every worker takes the first (Dawn picks adapters by name)`
        : undefined;
    return { adapters: Array.from({ length: workers }, () => undefined), devices, ...(note && workers > 1 ? { note } : {}) };
  }
  const adapters = Array.from({ length: workers }, (_, worker) => nameable[worker % nameable.length]);
  const shared = workers > distinct.length || nameable.includes(undefined);
  const note = shared
    ? `${devices.length} devices, ${distinct.length} of them with a name of their own (${distinct.join(', ')}): workers beyond those share a device`
    : undefined;
  return { adapters, devices, ...(note ? { note } : {}) };
}

/**
 * The recipe each pipeline worker builds its stage from: where the recipe names no adapter of its
 * own and the assignment gives a worker one, that worker's backend options name it.
 */
export function recipeForWorker<Recipe extends { backendOptions?: { adapter?: string; [option: string]: unknown } }>(
  recipe: Recipe,
  assignment: AdapterAssignment | undefined,
  worker: number,
): Recipe {
  const adapter = assignment?.adapters[worker];
  if (adapter === undefined || recipe.backendOptions?.adapter !== undefined) return recipe;
  return { ...recipe, backendOptions: { ...recipe.backendOptions, adapter } };
}
