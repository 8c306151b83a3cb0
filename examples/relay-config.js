'use strict';
// Where the examples find the relay: a connection string from
// --connection-string or HYCO_CONNECTION_STRING (with EntityPath or --path
// naming the hybrid connection), or else the local emulator that `npm start`
// and the examples run on 127.0.0.1:9030 with its development key.
const { parseConnectionString } = require('hyco-websocket');

/** The emulator's development key (loopback only, like Azurite's well-known key). */
const DEVELOPMENT_KEY = 'aHljby1yZWxheS1lbXVsYXRvci1kZXZlbG9wbWVudC1rZXk=';
/** A Send-only rule of the development emulator: what web pages get tokens from. */
const DEVELOPMENT_SEND_RULE = 'SendOnly';
const DEVELOPMENT_SEND_KEY = 'aHljby1yZWxheS1lbXVsYXRvci1zZW5kLW9ubHkta2V5';
const DEVELOPMENT_PORT = 9030;

/** The rules the development emulator is started with. */
const DEVELOPMENT_RULES = [
  { name: 'RootManageSharedAccessKey', key: DEVELOPMENT_KEY, rights: ['Listen', 'Send', 'Manage'] },
  { name: DEVELOPMENT_SEND_RULE, key: DEVELOPMENT_SEND_KEY, rights: ['Send'] },
];

function developmentConnectionString(port = DEVELOPMENT_PORT) {
  return `Endpoint=sb://127.0.0.1:${port}/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${DEVELOPMENT_KEY};UseDevelopmentEmulator=true`;
}

/** The development emulator's Send-only connection string. */
function developmentSenderConnectionString(port = DEVELOPMENT_PORT) {
  return `Endpoint=sb://127.0.0.1:${port}/;SharedAccessKeyName=${DEVELOPMENT_SEND_RULE};SharedAccessKey=${DEVELOPMENT_SEND_KEY};UseDevelopmentEmulator=true`;
}

/** What to tell someone whose local emulator refused the development key (401). */
function wrongEmulatorHint(port = DEVELOPMENT_PORT) {
  return (
    `the relay emulator on port ${port} was not started with the examples' development key (it answers 401). ` +
    'Pass its connection string (printed when it started) in HYCO_CONNECTION_STRING or --connection-string, ' +
    `or stop it and run the example again: it then starts its own.`
  );
}

/** Reads `--name value` or `--name=value` from argv. */
function flag(argv, name) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return undefined;
}

/** Edit distance of two short strings (for "did you mean"). */
function distance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const kept = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = kept;
    }
  }
  return row[b.length];
}

/** An error for a command line the example does not take: exit code 2, one line and a pointer to --help. */
class UsageError extends Error {
  constructor(message) {
    super(message);
    this.exitCode = 2;
  }
}

/**
 * Checks argv against the flags an example takes (each `--name value`,
 * `--name=value`, or in `switches` a flag without a value): an unknown flag
 * or a stray argument is a UsageError, with "did you mean" when one is close.
 * Returns true when --help was asked for.
 */
function checkFlags(argv, names, switches = ['help', 'verbose']) {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--([^=]+)(=.*)?$/.exec(arg);
    if (!m) throw new UsageError(`unexpected argument '${arg.slice(0, 80)}'`);
    const name = m[1];
    if (switches.includes(name)) continue;
    if (!names.includes(name)) {
      const close = [...names, ...switches].map((n) => [n, distance(n, name)]).sort((x, y) => x[1] - y[1])[0];
      const hint = close && close[1] <= Math.max(2, Math.floor(name.length / 3)) ? ` (did you mean --${close[0]}?)` : '';
      throw new UsageError(`unknown option '--${name.slice(0, 80)}'${hint}`);
    }
    if (m[2] === undefined) {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new UsageError(`option '--${name}' needs a value`);
      i++;
    }
  }
  return argv.includes('--help');
}

/**
 * The relay settings for an example: { connectionString, settings (parsed),
 * path, local (true when it is the local emulator's development string) }.
 */
function relayConfig(argv = process.argv.slice(2), env = process.env, defaultPath = 'echo') {
  const given = flag(argv, 'connection-string') || env.HYCO_CONNECTION_STRING || undefined;
  const connectionString = given ?? developmentConnectionString(Number(flag(argv, 'emulator-port') ?? DEVELOPMENT_PORT));
  const settings = parseConnectionString(connectionString);
  const path = flag(argv, 'path') ?? settings.entityPath ?? defaultPath;
  if (!settings.sharedAccessKey && !settings.sharedAccessSignature) {
    throw new Error('The connection string needs SharedAccessKeyName/SharedAccessKey or SharedAccessSignature');
  }
  return { connectionString, settings, path, local: given === undefined };
}

/** A token function for `path` (renewable when the string holds a key). */
function tokenFor(settings, path, ttlSeconds = 3600) {
  const { createRelayToken, createRelayListenUri } = require('hyco-websocket');
  if (settings.sharedAccessSignature) return () => settings.sharedAccessSignature;
  const uri = createRelayListenUri(settings.address, path);
  return () => createRelayToken(uri, settings.sharedAccessKeyName, settings.sharedAccessKey, ttlSeconds);
}

module.exports = {
  DEVELOPMENT_KEY,
  DEVELOPMENT_SEND_RULE,
  DEVELOPMENT_SEND_KEY,
  DEVELOPMENT_PORT,
  DEVELOPMENT_RULES,
  developmentConnectionString,
  developmentSenderConnectionString,
  wrongEmulatorHint,
  flag,
  checkFlags,
  UsageError,
  relayConfig,
  tokenFor,
};
