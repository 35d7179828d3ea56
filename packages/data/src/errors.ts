import { MlaanError } from '@mlaan/core';

export interface DataErrorDetails {
  /** The file or folder the problem is in (or the address, for downloads). */
  file: string;
  /** What the reader needed there. */
  expected?: string;
  /** What it found instead. */
  found?: string;
}

/**
 * Base of every dataset error: it carries the file, what was expected and what was found, so a
 * caller can report them without parsing the message.
 */
export class DataError extends MlaanError {
  readonly file: string;
  readonly expected: string | undefined;
  readonly found: string | undefined;

  constructor(message: string, details: DataErrorDetails) {
    super(message);
    this.file = details.file;
    this.expected = details.expected;
    this.found = details.found;
  }
}

/** A dataset file or folder is not where it should be. */
export class DatasetNotFoundError extends DataError {}

/**
 * A dataset file exists but does not hold what its format promises: truncated or oversized, a wrong
 * record count, a bad header, a label out of range, an image that does not decode.
 */
export class DatasetFormatError extends DataError {}

/** A file's md5 differs from its published checksum (or none is known for it). */
export class ChecksumError extends DataError {}

/** A download failed: the server refused it, or the transfer stopped before the end. */
export class DownloadError extends DataError {}
