import { ConfigError } from '@mlaan/core';

/** An `augLocal()` option is unknown or out of range, or does not fit the backbone it meets. */
export class AugLocalConfigError extends ConfigError {}
