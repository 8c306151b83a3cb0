'use strict';
// `npm start`: the local relay emulator (on 9030, or the next free port)
// and the hybrid chat example, served locally and through the relay, with
// a web page that joins through the relay. With --connection-string (or
// HYCO_CONNECTION_STRING) it runs against Azure instead of the emulator.
const path = require('node:path');
const fs = require('node:fs');

const built = ['hyco-websocket', 'relay-emulator'].every((p) => fs.existsSync(path.join(__dirname, '..', 'packages', p, 'dist', 'index.js')));
if (!built) {
  process.stderr.write('hyco-websocket: the packages are not built; run `npm ci` (or `npm run build`) first.\n');
  process.exit(1);
}

require('../examples/hybrid').main(process.argv.slice(2), { reuseRelay: false }).catch((err) => {
  process.stderr.write(`npm start: ${err.message}\n`);
  // A flag the demo does not take: one line, a pointer to --help, exit 2.
  if (err.exitCode === 2) process.stderr.write('npm start: (see npm start -- --help)\n');
  process.exit(err.exitCode ?? 1);
});
