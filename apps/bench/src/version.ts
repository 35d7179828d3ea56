import { createRequire } from 'node:module';

/** This app's version, from its package.json (one folder above both src/ and dist/). */
export function benchVersion(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}
