/**
 * `tessera serve`: the reference auth server. Every option is an environment
 * variable and a flag (a flag wins); see docs/configuration.md.
 *
 * @module
 */
import { type Flags, parseConfig, resolveSecret, resolveSigningKeys, SETTINGS, type SettingName } from '../server/config.js';
import { SHUTDOWN_TIMEOUT_MS, startServer } from '../server/server.js';
import { storeUsage } from '../stores/open.js';
import { dataDirLine, EXIT_OK, type Io, type OptionSpec, parse } from './args.js';

function helpText(): string {
  const rows = (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const s = SETTINGS[name];
    const flag = `--${s.flag}${'arg' in s ? ` ${s.arg}` : ''}`;
    return `  ${flag.padEnd(34)} ${s.env}\n  ${' '.repeat(34)} ${s.help} (default: ${s.default})`;
  });
  return `Usage: tessera serve [--port N] [--host H] [--store ${storeUsage()}] [options]

Starts the reference auth server (docs/http-api.md). Prints "tessera listening on URL" once ready.
Stops gracefully on SIGTERM/SIGINT: no new connections, in-flight requests finish, the store closes.

Options (flag, then its environment variable):
${rows.join('\n')}

Also: NODE_ENV=production refuses to start without a configured secret or TESSERA_ISSUER.`;
}

export async function serveCommand(argv: string[], io: Io): Promise<number> {
  const specs: Record<string, OptionSpec> = {};
  for (const s of Object.values(SETTINGS)) specs[s.flag] = { type: 'boolean' in s && s.boolean ? 'boolean' : 'string' };
  const { values } = parse(argv, specs, false);
  if (values.help) return (io.out(helpText()), EXIT_OK);

  const flags: Flags = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const v = values[SETTINGS[name].flag];
    if (typeof v === 'string' || typeof v === 'boolean') flags[name] = v;
  }
  const config = parseConfig(process.env, flags);
  // The data directory holds the default store, and the development secret and signing keys when none is configured.
  const usesDataDir =
    config.storeFrom === 'default' ||
    config.keys === undefined ||
    (config.accessAlg !== 'HS256' && config.signingKeys === undefined);
  if (usesDataDir) io.err(dataDirLine(config.dataDir));
  for (const line of resolveSecret(config)) io.err(line);
  for (const line of resolveSigningKeys(config)) io.err(line);

  const server = await startServer(config, { note: io.err });
  io.out(`tessera listening on ${server.url}`);

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      io.err(`tessera: ${signal}: shutting down (in-flight requests finish first)`);
      process.once(signal, () => {
        io.err('tessera: second signal: exiting now');
        process.exit(1);
      });
      const force = setTimeout(() => {
        io.err(`tessera: shutdown took more than ${SHUTDOWN_TIMEOUT_MS / 1000} s: exiting`);
        process.exit(1);
      }, SHUTDOWN_TIMEOUT_MS);
      force.unref();
      server.close().then(resolve, (e: unknown) => {
        io.err(`tessera: error while shutting down: ${(e as Error).message}`);
        resolve();
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return EXIT_OK;
}
