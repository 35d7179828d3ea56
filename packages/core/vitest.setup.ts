// Tests choose their backend on purpose; tfjs's "install the Node.js backend" hint is noise there.
import '@tensorflow/tfjs-backend-cpu';
import { silenceNodeBackendHint } from './src/backend/node-hint.js';

silenceNodeBackendHint();
