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
  type BackendDevice,
  type BackendLoadOptions,
  type BackendProvider,
} from './providers.js';
export { assignAdapters, recipeForWorker, type AdapterAssignment } from './adapter-assignment.js';
export { silenceNodeBackendHint } from './node-hint.js';
export { importOptionalPackage, isPackageNotFound, provideBundledPackage } from './optional-import.js';
