/**
 * `hyco-relay-emulator`: runs the emulator from a terminal (the default
 * command, `cli/start.ts`), hands out its development CA (`trust`), and
 * creates or deletes hybrid connections in a running one (`hc`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerHybridConnectionCommands } from './cli/hc';
import { start, startOptions } from './cli/start';
import type { StartFlags } from './cli/start';
import { registerTrustCommand } from './cli/trust';

export { DEFAULT_CLI_PORT, cliPrincipal, optionsFromFlags } from './cli/start';

function version(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** Set once commander has printed a usage error (one thrown later, by an action, is printed by run). */
let usageSaid = false;

/** Runs the command line; resolves once the command's work is under way (the emulator started, or the subcommand done). */
export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  const out = (line: string) => {
    if (process.stdout.writable) process.stdout.write(`${line}\n`);
  };
  program
    .name('hyco-relay-emulator')
    .description('A local Azure Relay Hybrid Connections emulator (service side), for development and tests.')
    .version(version(), '-V, --version', 'print the version')
    // The start flags belong to the emulator; a subcommand's come after its name.
    .enablePositionalOptions()
    // A bad flag: commander's line (with "did you mean"), a pointer to --help, exit 2 (run below); not the whole help.
    .exitOverride()
    .showSuggestionAfterError()
    .showHelpAfterError('(see hyco-relay-emulator --help)')
    .configureOutput({
      outputError: (text, write) => {
        usageSaid = true;
        write(`hyco-relay-emulator: ${text.replace(/^error: /, '')}`);
      },
    })
    // A subcommand whose stdout is closed (piped into `head`) ends quietly; the emulator itself closes first (cli/start.ts).
    .hook('preSubcommand', () => {
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
      });
    });
  startOptions(program).action(async (flags: StartFlags) => {
    await start(flags, version());
  });
  registerTrustCommand(program, out);
  registerHybridConnectionCommands(program, out);
  await program.parseAsync(argv);
}

/** Exit codes: 2 a usage error (unknown flag, bad value), 5 the port is taken, 1 anything else. */
export const EXIT_USAGE = 2;
export const EXIT_NETWORK = 5;

/** Runs the command line; errors become one line and an exit code (usage 2, port in use 5, else 1). */
export function run(argv: string[]): void {
  main(argv).catch((err: Error & { code?: string; port?: number }) => {
    if (err instanceof CommanderError) {
      if (err.exitCode !== 0 && !usageSaid) process.stderr.write(`hyco-relay-emulator: ${err.message.replace(/^error: /, '')}\n(see hyco-relay-emulator --help)\n`);
      process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    }
    if (err.code === 'EADDRINUSE') {
      const port = err.port ?? /:(\d+)\s*$/.exec(err.message)?.[1];
      process.stderr.write(`hyco-relay-emulator: port ${port ?? ''} is in use (another emulator?); fix: --port 0 for any free port, or another --port\n`);
      process.exit(EXIT_NETWORK);
    }
    process.stderr.write(`hyco-relay-emulator: ${err.message}\n`);
    process.exit(1);
  });
}

if (require.main === module) run(process.argv);
