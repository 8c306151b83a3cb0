/**
 * `hyco-relay-emulator trust`: hands out the development CA (making it when
 * missing) and says how each kind of client trusts it; `--pem` prints the
 * certificate; `--install system` adds it to Debian's and Ubuntu's system
 * store (curl, OpenSSL, Python, .NET on Linux), `--install java` to a Java
 * trust store, with the tools those systems have for it.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { caDirectory, developmentCa } from '../tls';

/** Where Debian's update-ca-certificates takes local CAs from. */
const DEBIAN_LOCAL_CAS = '/usr/local/share/ca-certificates';
const SYSTEM_FILE = `${DEBIAN_LOCAL_CAS}/hyco-relay-emulator.crt`;
const JAVA_ALIAS = 'hyco-relay-emulator';

/** How each kind of client trusts the CA at `caPath`, one line each. */
export function trustInstructions(caPath: string): string[] {
  return [
    `Node.js:         NODE_EXTRA_CA_CERTS=${caPath} node app.js   (the hyco-websocket CLI: --ca ${caPath})`,
    `curl, OpenSSL:   curl --cacert ${caPath} ...; or, for every program, the system store (below)`,
    `Python:          REQUESTS_CA_BUNDLE / SSL_CERT_FILE naming a bundle with it, or the system store`,
    `.NET on Linux:   the system store: sudo hyco-relay-emulator trust --install system (Debian/Ubuntu: update-ca-certificates); or SSL_CERT_FILE=${caPath} (that file alone is then trusted)`,
    `Java:            hyco-relay-emulator trust --install java --keystore FILE (keytool -importcert), then -Djavax.net.ssl.trustStore=FILE`,
    `macOS:           sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${caPath}`,
    `Windows:         certutil -addstore -f Root ${caPath}   (as administrator)`,
  ];
}

interface TrustFlags {
  caDir?: string;
  pem?: boolean;
  install?: 'system' | 'java';
  uninstall?: 'system' | 'java';
  keystore?: string;
  storepass: string;
}

function run(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { status?: number };
    if (e.code === 'ENOENT') throw new Error(`${command} is not installed here`, { cause: err });
    throw new Error(`${command} failed (exit ${e.status ?? e.code ?? '?'})`, { cause: err });
  }
}

function system(caPath: string, install: boolean): void {
  if (!existsSync('/usr/sbin/update-ca-certificates') && !existsSync('/usr/bin/update-ca-certificates')) {
    throw new Error('--install system knows Debian\'s and Ubuntu\'s update-ca-certificates, which is not here; see `hyco-relay-emulator trust` for the other systems');
  }
  if (install) copyFileSync(caPath, SYSTEM_FILE);
  else rmSync(SYSTEM_FILE, { force: true });
  run('update-ca-certificates', install ? [] : ['--fresh']);
}

function java(caPath: string, install: boolean, flags: TrustFlags): void {
  if (!flags.keystore) throw new Error('--install java needs --keystore FILE (a JKS or PKCS12 trust store; made when missing)');
  const common = ['-noprompt', '-alias', JAVA_ALIAS, '-keystore', flags.keystore, '-storepass', flags.storepass];
  run('keytool', install ? ['-importcert', '-file', caPath, ...common] : ['-delete', ...common]);
}

export function registerTrustCommand(program: Command, out: (line: string) => void): void {
  program
    .command('trust')
    .description('hand out the development CA that --tls signs with (made when missing): its path and how to trust it; or install it')
    .option('--ca-dir <dir>', 'the development CA\'s folder (default: $HYCO_RELAY_EMULATOR_CA_DIR, else ~/.hyco-relay-emulator/ca)')
    .option('--pem', 'print the CA certificate (PEM) and nothing else')
    .addOption(new Option('--install <store>', 'add it to a trust store: system (Debian/Ubuntu, needs root) or java (--keystore)').choices(['system', 'java']))
    .addOption(new Option('--uninstall <store>', 'remove it from a trust store').choices(['system', 'java']))
    .option('--keystore <file>', 'the Java trust store for --install java')
    .option('--storepass <password>', 'the Java trust store\'s password', 'changeit')
    .action(async (flags: TrustFlags) => {
      const ca = await developmentCa(caDirectory(flags.caDir));
      if (flags.pem) {
        process.stdout.write(ca.certificate);
        return;
      }
      const store = flags.install ?? flags.uninstall;
      if (store) {
        const install = flags.install !== undefined;
        if (store === 'system') system(ca.certificatePath, install);
        else java(ca.certificatePath, install, flags);
        out(`${install ? 'installed' : 'removed'}: the development CA ${ca.certificatePath} ${install ? 'in' : 'from'} the ${store === 'system' ? 'system store' : `Java trust store ${flags.keystore}`}`);
        return;
      }
      out(`development CA:  ${ca.certificatePath}`);
      out('trust it once, where your client looks:');
      for (const line of trustInstructions(ca.certificatePath)) out(`  ${line}`);
    });
}
