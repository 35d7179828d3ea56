import { BackendNotAvailableError, KernelError, MlaanError } from '@mlaan/core';

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

/**
 * A kernel of the onednn backend failed: its inputs are of a kind it does not take (wrong dtype,
 * shapes that do not match), or the native addon rejected the call. `kernel` names the tfjs kernel;
 * a native failure is kept as `cause`.
 */
export class OnednnKernelError extends KernelError {
  readonly kernel: string;

  constructor(kernel: string, problem: string, options?: ErrorOptions) {
    super(`${kernel} on the onednn backend: ${problem}`, options);
    this.kernel = kernel;
  }

  /** `error` as it leaves a kernel of this backend: the library's errors unchanged, anything else wrapped. */
  static from(kernel: string, error: unknown): MlaanError {
    if (error instanceof MlaanError) return error;
    const problem = error instanceof Error ? error.message : String(error);
    return new OnednnKernelError(kernel, `${problem.replace(/\.$/, '')}. This is a bug in @mlaan/backend-onednn when the inputs are valid; report it with the shapes involved.`, { cause: error });
  }
}
