import { BackendNotAvailableError } from '@mlaan/core';

/**
 * The native addon could not be loaded: it was never built (oneDNN's headers were missing at
 * install time, or the build was skipped), or it was built but its shared library is gone.
 */
export class OnednnUnavailableError extends BackendNotAvailableError {
  readonly addonPath: string;

  constructor(addonPath: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    super(
      `The 'onednn' TensorFlow.js backend is unavailable: its native addon (${addonPath}) did not load (${reason}). ` +
        'Install oneDNN (Debian/Ubuntu: `apt-get install -y libdnnl-dev`, with g++ and make), then rebuild the ' +
        'addon with `npm rebuild @mlaan/backend-onednn`. Other backends (wasm, cpu) keep working meanwhile.',
      { cause },
    );
    this.addonPath = addonPath;
  }
}
