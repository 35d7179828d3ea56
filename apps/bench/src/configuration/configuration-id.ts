import { createHash } from 'node:crypto';
import { FRAMEWORK_NAMES, frameworkDefinition } from '../registry/frameworks.js';
import type { RunConfig } from './settings.js';

/** JSON with sorted keys, so that equal configurations hash equally whatever their key order. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The fields a configuration's id hashes: the configuration, with each host option that had a
 * field of its own before options were kept under the framework's name (result format 2) spelled
 * as it was then (`dglHead`, and `infoproTask: null` in every other framework's configuration).
 * Results trained then keep their ids, so that a rerun into their folder skips them. Options of
 * hosts added since stay under `frameworkOptions`.
 */
export function idFields(config: RunConfig): Record<string, unknown> {
  const { frameworkOptions, ...fields } = config as RunConfig & Record<string, unknown>;
  const own = frameworkOptions?.[config.framework] ?? {};
  const rest: Record<string, unknown> = {};
  for (const framework of FRAMEWORK_NAMES) {
    for (const [name, definition] of Object.entries(frameworkDefinition(framework).options)) {
      const former = definition.formerField;
      if (framework !== config.framework) {
        if (former && 'inOtherFrameworks' in former) fields[former.name] = former.inOtherFrameworks;
      } else if (own[name] !== undefined) {
        if (former) fields[former.name] = own[name];
        else rest[name] = own[name];
      }
    }
  }
  return Object.keys(rest).length > 0 ? { ...fields, frameworkOptions: { [config.framework]: rest } } : fields;
}

/**
 * Folder name of a configuration: readable fields, then a hash of all of them, so that a rerun
 * with any setting changed (epochs, lr, limits, backend) never picks up another run's results.
 */
export function configId(config: RunConfig): string {
  const hash = createHash('sha256').update(stableStringify(idFields(config))).digest('hex').slice(0, 8);
  return `${config.dataset}-${config.network}-${config.framework}-${config.plugins}-k${config.K}-s${config.seed}-${hash}`;
}
