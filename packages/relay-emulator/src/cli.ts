/**
 * `hyco-relay-emulator`: runs the emulator from a terminal (the default
 * command, `cli/start.ts`), hands out its development CA (`trust`), and
 * creates or deletes hybrid connections in a running one (`hc`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerHybridConnectionCommands } from './cli/hc';
import { start, startOptions } from './cli/start';
import type { StartFlags } from './cli/start';
import { registerTrustCommand } from './cli/trust';

export { DEFAULT_CLI_PORT, cliPrincipal, optionsFromFlags } from './cli/start';

function version(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

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
    .showHelpAfterError()
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

/** Runs the command line; errors become a message and exit code 1. */
export function run(argv: string[]): void {
  main(argv).catch((err: Error) => {
    process.stderr.write(`hyco-relay-emulator: ${err.message}\n`);
    process.exit(1);
  });
}

if (require.main === module) run(process.argv);
