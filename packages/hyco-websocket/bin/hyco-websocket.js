#!/usr/bin/env node
'use strict';
// The `hyco-websocket` command: loads the built CLI (npm links this file at
// install time, before the TypeScript build has run).
let cli;
try {
  cli = require('../dist/cli.js');
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND') throw err;
  process.stderr.write('hyco-websocket: not built yet; run `npm run build` (or `npm ci`) first\n');
  process.exit(1);
}
cli.run(process.argv);
