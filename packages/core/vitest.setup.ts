// Tests choose their backend on purpose; tfjs's "install the Node.js backend" hint is noise there.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { silenceNodeBackendHint } from './src/backend/node-hint.js';

// The tests' own setBackend('cpu') finds this instance, already past its first-use hint.
await tf.setBackend('cpu');
silenceNodeBackendHint();
