/** `--ca FILE`, for the commands that connect: a CA to trust besides Node's own (an emulator's development CA). */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Command } from 'commander';
import { RelayArgumentError } from '../errors';

export function caOption(command: Command): Command {
  return command.option('--ca <file>', 'also trust this CA certificate (PEM), e.g. the emulator\'s (`hyco-relay-emulator trust`)');
}

/** The TLS options --ca asks for: Node's CAs and the one given. */
export function caTls(flags: { ca?: string }): { tlsOptions?: { ca: string[] } } {
  if (!flags.ca) return {};
  let pem: string;
  try {
    pem = readFileSync(flags.ca, 'utf8');
  } catch (err) {
    throw new RelayArgumentError(`cannot read --ca ${flags.ca}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { tlsOptions: { ca: [...rootCertificates, pem] } };
}
