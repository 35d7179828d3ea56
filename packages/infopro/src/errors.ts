import { ConfigError } from '@mlaan/core';

/** An `infoPro()` option is unknown, of the wrong type or out of range. */
export class InfoProConfigError extends ConfigError {}

/**
 * No λ preset exists for the (dataset, network, K) being trained and none was given: the paper
 * tuned λ per setting, so guessing one would silently change the method.
 */
export class UndefinedLambdaError extends InfoProConfigError {}
