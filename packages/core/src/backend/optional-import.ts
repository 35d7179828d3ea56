// On globalThis: the bundle's entry and the copy of core inside it must see the same table.
const bundledKey = Symbol.for('@mlaan/core/bundled-packages');
const scope = globalThis as unknown as Record<symbol, Map<string, Record<string, unknown>> | undefined>;

/**
 * Makes `module` what `importOptionalPackage(packageName)` returns. For bundles: a program bundled
 * with esbuild has no node_modules to import optional packages from at run time, so its entry
 * imports them statically and hands them over here (the offline GPU bundle does this for
 * @mlaan/backend-webgpu, webgpu and the tfjs backends).
 */
export function provideBundledPackage(packageName: string, module: Record<string, unknown>): void {
  (scope[bundledKey] ??= new Map()).set(packageName, module);
}

/**
 * Backends are optional peer packages, so they are imported at run time by name. The specifier is
 * a variable on purpose: bundlers then leave the import alone instead of failing the build when
 * the package is absent, and TypeScript does not demand its types. A package given to
 * `provideBundledPackage` is returned as given.
 */
export async function importOptionalPackage(packageName: string): Promise<Record<string, unknown>> {
  const bundled = scope[bundledKey]?.get(packageName);
  if (bundled) return bundled;
  const specifier = packageName;
  return (await import(/* @vite-ignore */ specifier)) as Record<string, unknown>;
}

// Node ESM: Cannot find package 'x' imported from …; Node CJS: Cannot find module 'x';
// Vite-based runners (vitest): Could not resolve "x" imported by …
const MISSING_MODULE_PATTERNS = [
  /cannot find (?:package|module) ['"]([^'"]+)['"]/i,
  /could not resolve ['"]([^'"]+)['"]/i,
  /failed to (?:load|resolve)(?: url| import)? ['"]?([^'"\s]+)/i,
];

/**
 * True when `error` says that `packageName` itself cannot be found, as opposed to the package
 * being present but failing to load (a native addon without its shared libraries, or one of the
 * package's own dependencies missing: then the missing name is a different one).
 */
export function isPackageNotFound(error: unknown, packageName: string): boolean {
  if (!(error instanceof Error)) return false;
  for (const pattern of MISSING_MODULE_PATTERNS) {
    const missing = pattern.exec(error.message)?.[1];
    if (missing != null) return missing === packageName || missing.startsWith(`${packageName}/`);
  }
  return false;
}
