'use strict';
// The relay emulator in a process of its own, driven over IPC, so that its
// memory can be measured apart from the clients. Options come as JSON in
// argv[2]. Messages: { type: 'usage' } -> { rss, heapUsed }, { type: 'stats' },
// { type: 'drop', mode }.
const { RelayEmulator } = require('hyco-relay-emulator');

const options = JSON.parse(process.argv[2] ?? '{}');

RelayEmulator.start(options).then((relay) => {
  process.on('message', (m) => {
    if (m.type === 'usage') {
      if (global.gc) global.gc();
      const mem = process.memoryUsage();
      process.send({ type: 'usage', id: m.id, rss: mem.rss, heapUsed: mem.heapUsed });
    } else if (m.type === 'stats') {
      process.send({ type: 'stats', id: m.id, stats: relay.stats() });
    } else if (m.type === 'drop') {
      process.send({ type: 'dropped', id: m.id, count: relay.dropControlChannels(m.path, m.mode) });
    }
  });
  process.on('disconnect', () => relay.close().then(() => process.exit(0)));
  process.send({ type: 'ready', port: relay.port, endpoint: relay.endpoint });
});
