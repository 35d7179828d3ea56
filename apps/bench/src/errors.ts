import { MlaanError } from '@mlaan/core';
import { DataError } from '@mlaan/data';

/** A command-line option or preset value is unknown, out of range or inconsistent with another. */
export class BenchOptionError extends MlaanError {}

/** A framework or plugin set needs a sibling package that is not installed or not built. */
export class PluginPackageError extends MlaanError {}

/** A results folder holds something this version cannot use (a result of another configuration). */
export class ResultsFolderError extends MlaanError {}

/** A dataset is not in the data folder; the message names the CLI's --download and --data-dir. */
export class MissingDatasetError extends DataError {}
