'use strict';
// `npm run soak`: the long forms of the stress suite.
//   npm run soak -- [--seconds 600] [--senders 16] [--drop-every 3000] [--token-ttl 5] [--inputs 100000]
// Churn for --seconds (control channel dropped every --drop-every ms, tokens
// living --token-ttl s, the emulator restarted once), then --inputs
// malformed inputs against the emulator. Exits 1 if anything was lost.
const { runChurn, describeChurn } = require('./churn');
const { runHostile, describeHostile } = require('./hostile-emulator');

const argv = process.argv.slice(2);
const num = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const value = Number(argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`soak: --${name} takes a positive number\n`);
    process.exit(2);
  }
  return value;
};

async function main() {
  const seconds = num('seconds', 600);
  const out = (line) => process.stdout.write(`${line}\n`);
  out(`soak: churn for ${seconds} s, then ${num('inputs', 100000)} malformed inputs`);
  const churn = await runChurn({
    seconds,
    senders: num('senders', 16),
    dropEveryMs: num('drop-every', 3000),
    tokenTtl: num('token-ttl', 5),
    log: out,
  });
  out(describeChurn(churn));
  const hostile = await runHostile({ count: num('inputs', 100000), halfOpen: 1000 });
  out(describeHostile(hostile));
  const unanswered = Object.values(hostile.byKind).reduce((a, [n, ok]) => a + n - ok, 0) + hostile.halfOpen[0] - hostile.halfOpen[1];
  const failed = churn.lost + churn.longLived.faults + unanswered + hostile.goodFailures.length;
  if (churn.slowestRecoveryMs >= 2000) out(`slowest recovery ${churn.slowestRecoveryMs} ms is over 2 s`);
  out(failed === 0 && churn.slowestRecoveryMs < 2000 ? 'soak passed: nothing lost' : `soak FAILED: ${failed} lost, unanswered or failed`);
  process.exitCode = failed === 0 && churn.slowestRecoveryMs < 2000 ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
