/** `caas serve`: validate the configuration once, then listen (or, with --check, only validate). */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { KeysFileError } from "../auth/api-keys.ts";
import { ConfigError, loadConfig, SETTINGS, type Config, type RawSettings } from "../config.ts";
import { loadCredentials } from "../credentials.ts";
import { createLogger, silentLogger } from "../log.ts";
import { SecretFileError } from "../modules/pseudonym/secrets.ts";
import { handleSignals, loadTlsMaterial, startServer } from "../server.ts";
import { readTlsFromSupervisor, superviseWorkers, WORKER_INDEX_ENV, WORKER_TLS_ENV } from "../supervisor.ts";
import { EXIT_CONFIG, EXIT_OK, EXIT_USAGE, firstSentence, isParseArgsError, type CliIo } from "./io.ts";

const settingOptions = Object.fromEntries(SETTINGS.map((setting) => [setting.flag, { type: "string" }])) as Record<string, { type: "string" }>;

const OPTIONS = {
  ...settingOptions,
  config: { type: "string" },
  check: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

export const SERVE_HELP = [
  "usage: caas serve [--config FILE] [--check] [options]",
  "",
  "Serves the oracle and pseudonym APIs over HTTPS. Settings come from flags, then CAAS_*",
  "environment variables, then the TOML file given with --config; the first one set wins.",
  "",
  ...SETTINGS.map((setting) => `  --${setting.flag.padEnd(18)} ${setting.env.padEnd(23)} ${setting.help}`),
  "",
  "  --config FILE      a TOML file with the settings above in snake_case (port = 8443)",
  "  --check            validate the configuration, certificate, secret and keys, then exit",
  "",
  "Under systemd (LoadCredential=), files named tls.crt, tls.key, tls-client-ca.crt, secret and",
  "api-keys in $CREDENTIALS_DIRECTORY are used for the matching settings left unset.",
  "",
  "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads keys, secrets and the certificate.",
  "Exit codes: 0 ok, 2 usage, 78 configuration error.",
].join("\n");

export async function runServeCommand(args: readonly string[], io: CliIo): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...args], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    if (isParseArgsError(error)) {
      io.err(`caas serve: ${firstSentence(error.message)}`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (values.help === true) {
    io.out(SERVE_HELP);
    return EXIT_OK;
  }
  const flags: RawSettings = {};
  for (const setting of SETTINGS) {
    const value = values[setting.flag];
    if (typeof value === "string") flags[setting.key] = value;
  }
  const configFile = typeof values.config === "string" ? values.config : undefined;
  const config = loadConfig({ flags, env: io.env, configFile });
  try {
    return await serve(config, args, io, values.check === true);
  } catch (error) {
    throw namingTheSetting(error, config);
  }
}

/** A secret or keys file that fails to load is reported, like every other setting, under its name. */
function namingTheSetting(error: unknown, config: Config): unknown {
  if (error instanceof SecretFileError) return new ConfigError(`${config.secretFile === undefined ? "CAAS_STATE_DIR" : "CAAS_SECRET_FILE"}: ${error.message}`);
  if (error instanceof KeysFileError) return new ConfigError(`CAAS_API_KEYS_FILE: ${error.message}`);
  return error;
}

async function serve(config: Config, args: readonly string[], io: CliIo, checkOnly: boolean): Promise<number> {
  if (checkOnly) {
    await loadTlsMaterial(config, silentLogger);
    await loadCredentials(config, silentLogger);
    io.out("configuration ok");
    return EXIT_OK;
  }
  const logger = createLogger(config.logLevel);
  const isWorker = io.env[WORKER_INDEX_ENV] !== undefined;
  if (!isWorker && config.workers > 1) {
    await superviseWorkers(config, args, logger);
    return new Promise<number>(() => undefined);
  }
  const tls = isWorker && io.env[WORKER_TLS_ENV] === "1" ? await readTlsFromSupervisor() : undefined;
  const running = await startServer(config, logger, { portHeldBySupervisor: isWorker, ...(tls === undefined ? {} : { tls }) });
  handleSignals(running, logger);
  // The process stays alive on the listener; signals decide when it ends.
  return new Promise<number>(() => undefined);
}

export { ConfigError, EXIT_CONFIG };
