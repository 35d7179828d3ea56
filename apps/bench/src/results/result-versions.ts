import { FRAMEWORK_NAMES, frameworkDefinition } from '../registry/frameworks.js';

/** The result versions this bench reads; older ones are upgraded to the newest as they are read. */
export const READABLE_RESULT_VERSIONS = [2, 3] as const;

type Fields = Record<string, unknown>;

/**
 * Version 2 kept the hosts' options as fields of the configuration (`dglHead`, `infoproTask`, null
 * in the other frameworks' configurations); version 3 keeps them under the framework's name. Each
 * host's registry entry names its option's former field, so the upgrade needs no list of its own.
 * The id is kept: it hashes the former spelling (`configuration-id.ts`).
 */
function upgradeConfigFrom2(config: Fields): Fields {
  const fields = { ...config };
  const framework = fields.framework as string;
  const own: Fields = {};
  for (const name of FRAMEWORK_NAMES) {
    for (const [option, definition] of Object.entries(frameworkDefinition(name).options)) {
      const former = definition.formerField?.name;
      if (former === undefined || !(former in fields)) continue;
      if (name === framework && fields[former] !== null && fields[former] !== undefined) own[option] = fields[former];
      delete fields[former];
    }
  }
  return Object.keys(own).length > 0 ? { ...fields, frameworkOptions: { [framework]: own } } : fields;
}

/** A parsed result file in the newest version's shape, or undefined when its version cannot be read. */
export function upgradeResult(parsed: Fields): Fields | undefined {
  if (parsed.version === 3) return parsed;
  if (parsed.version === 2) return { ...parsed, version: 3, config: upgradeConfigFrom2(parsed.config as Fields) };
  return undefined;
}
