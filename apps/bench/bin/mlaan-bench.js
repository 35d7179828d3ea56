#!/usr/bin/env node
// A committed launcher, so that `npm ci` links the command before `npm run build` has made dist/.
import '../dist/cli.js';
