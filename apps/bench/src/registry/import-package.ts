import { PluginPackageError } from '../errors.js';

/** True when `error` says that `packageName` (or its built entry point) could not be found. */
function isMissing(error: unknown, packageName: string): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  const text = error.message;
  const mentions = text.includes(packageName) || text.includes(packageName.replace('/', '\\'));
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return mentions;
  return mentions && /cannot find|could not resolve|failed to (load|resolve)|does not provide/i.test(text);
}

/**
 * Loads a sibling package on first use, so that a grid which never asks for, say, InfoPro runs
 * without it, and one that does fails with the package to install instead of a resolver trace.
 */
export async function importPluginPackage<T>(packageName: string, neededFor: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissing(error, packageName)) {
      throw new PluginPackageError(
        `${neededFor} needs ${packageName}, which is not installed or not built. ` +
          `Install it with \`npm install ${packageName}\`; inside the mlaan repository run \`npm run build\` first.`,
      );
    }
    throw error;
  }
}

/**
 * Imports a package whose types this app cannot see yet (an optional peer). The specifier is a
 * variable so the bundler leaves the import to run time.
 */
export async function importUntyped(packageName: string): Promise<Record<string, unknown>> {
  const specifier = packageName;
  return (await import(/* @vite-ignore */ specifier)) as Record<string, unknown>;
}
