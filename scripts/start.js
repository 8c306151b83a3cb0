'use strict';
// `npm start`: the first-run demo. Until the demo lands, say so plainly and
// exit non-zero so that nobody mistakes silence for success.
process.stderr.write(
  'hyco-websocket: the first-run demo is not built yet.\n' +
    'Meanwhile, run the local relay emulator with `npx hyco-relay-emulator --hybrid-connection echo`,\n' +
    'and `npm test` to exercise everything; see README.md.\n',
);
process.exitCode = 1;
