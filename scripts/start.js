'use strict';
// `npm start`: the first-run demo. Until the emulator and demo land, say so
// plainly and exit non-zero so that nobody mistakes silence for success.
process.stderr.write(
  'hyco-websocket: the local relay emulator and demo are not built yet.\n' +
    'Run `npm test` to exercise the library; see README.md for what is available.\n',
);
process.exitCode = 1;
