export {
  activeBackendChoice,
  selectBackend,
  type BackendChoice,
  type SelectBackendOptions,
  type SelectedBackend,
  type SkippedBackend,
} from './select-backend.js';
export {
  backendProviders,
  findBackendProvider,
  registerBackendProvider,
  type BackendLoadOptions,
  type BackendProvider,
} from './providers.js';
export { silenceNodeBackendHint } from './node-hint.js';
