/** `caas serve`: validate the configuration once, then listen (or, with --check, only validate). */
import { join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { DEV_CERTIFICATE_FILE } from "../credentials/development.ts";
import { KeysFileError } from "../credentials/api-keys.ts";
import { ConfigError, defaultText, loadConfig, SETTINGS, unknownSettingVariables, type Config, type RawSettings } from "../config.ts";
import { checkCredentials } from "../credentials/holder.ts";
import { createLogger, type Logger } from "../log.ts";
import { SecretFileError } from "../credentials/secret-ring.ts";
import { KeyringFileError, RootKeyFileError } from "../credentials/keyring.ts";
import { handleSignals, loadTlsMaterial, startServer } from "../server/listener.ts";
import { connectToSupervisor, superviseWorkers, WORKER_INDEX_ENV } from "../server/supervisor.ts";
import { EXIT_CONFIG, EXIT_OK, EXIT_USAGE, isParseArgsError, type CliIo, usageProblem } from "./io.ts";

const settingOptions = Object.fromEntries(SETTINGS.map((setting) => [setting.flag, { type: "string" }])) as Record<
  string,
  { type: "string" }
>;

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
  ...SETTINGS.map(
    (setting) =>
      `  --${setting.flag.padEnd(18)} ${setting.env.padEnd(23)} ${setting.help}; default ${defaultText(setting).replaceAll("`", "")}`,
  ),
  "",
  "  --config FILE      a TOML file with the settings above in snake_case (port = 8443)",
  "  --check            validate the configuration, certificate, secret and keys, say what",
  "                     serve would create, then exit; creates and listens on nothing",
  "",
  "Under systemd (LoadCredential=), these files in $CREDENTIALS_DIRECTORY are used for the",
  `matching settings left unset: ${SETTINGS.flatMap((setting) => setting.credential ?? []).join(", ")}.`,
  "(root-key may be sealed with systemd-creds encrypt and LoadCredentialEncrypted=).",
  "",
  "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads keys, secrets, the keyring and the certificate.",
  "Exit codes: 0 ok, 2 usage, 78 configuration error.",
].join("\n");

export async function runServeCommand(args: readonly string[], io: CliIo): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...args], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    if (isParseArgsError(error)) {
      io.err(`caas serve: ${usageProblem(error, Object.keys(OPTIONS))}`);
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
  if (error instanceof SecretFileError)
    return new ConfigError(`${config.secretFile === undefined ? "CAAS_STATE_DIR" : "CAAS_SECRET_FILE"}: ${error.message}`);
  if (error instanceof KeysFileError) return new ConfigError(`CAAS_API_KEYS_FILE: ${error.message}`);
  if (error instanceof RootKeyFileError)
    return new ConfigError(`${config.rootKeyFile === undefined ? "CAAS_STATE_DIR" : "CAAS_ROOT_KEY_FILE"}: ${error.message}`);
  if (error instanceof KeyringFileError)
    return new ConfigError(`${config.keyringFile === undefined ? "CAAS_STATE_DIR" : "CAAS_KEYRING_FILE"}: ${error.message}`);
  return error;
}

/** The drain a worker is given once its supervisor is gone, so it never serves unsupervised for long. */
const SUPERVISOR_GONE_DRAIN_SECONDS = 2;

async function serve(config: Config, args: readonly string[], io: CliIo, checkOnly: boolean): Promise<number> {
  const isWorker = io.env[WORKER_INDEX_ENV] !== undefined;
  // Said once, by the process the operator started; its workers inherit the same environment.
  const unknownVariables = isWorker ? [] : unknownSettingVariables(io.env);
  if (checkOnly)
    return check(
      config,
      io,
      unknownVariables.map((variable) => variable.message),
    );
  const logger = createLogger(config.logLevel);
  for (const variable of unknownVariables)
    logger.warn("unknown_variable", { variable: variable.name, closest: variable.closest, message: variable.message });
  if (!isWorker && config.workers > 1) {
    await superviseWorkers(config, args, logger);
    return new Promise<number>(() => undefined);
  }
  const supervisor = isWorker ? await connectToSupervisor() : undefined;
  const running = await startServer(config, logger, {
    portHeldBySupervisor: isWorker,
    ...(supervisor === undefined ? {} : { tls: supervisor.tls }),
  });
  handleSignals(running, logger);
  if (supervisor !== undefined) {
    let signalled = false;
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => (signalled = true));
    void supervisor.gone.then(async () => {
      // A drain the supervisor asked for is already under way and ends the process itself.
      if (signalled) return;
      logger.warn("supervisor_gone", { hint: "the supervisor exited or was killed; this worker drains and exits" });
      const forced = setTimeout(() => process.exit(0), (Math.min(config.drainTimeoutSeconds, SUPERVISOR_GONE_DRAIN_SECONDS) + 1) * 1000);
      await running.shutdown("supervisor_gone");
      clearTimeout(forced);
      process.exit(0);
    });
  }
  // Only now: whoever waits for this line (systemd, a supervisor, a test) may signal us at once,
  // and a SIGHUP before the handler is installed would end the process instead of reloading it.
  logger.info("listening", { url: running.url, ...(running.opsUrl === undefined ? {} : { opsUrl: running.opsUrl }), pid: process.pid });
  // The process stays alive on the listener; signals decide when it ends.
  return new Promise<number>(() => undefined);
}

/** Everything serve would load, loaded and checked; nothing created, nothing bound. */
async function check(config: Config, io: CliIo, warnings: readonly string[]): Promise<number> {
  const tlsWarnings: string[] = [];
  const collecting: Logger = {
    ...createLogger("error", () => undefined),
    warn: (_event, fields) => {
      if (typeof fields?.message === "string") tlsWarnings.push(fields.message);
    },
  };
  await loadTlsMaterial(config, collecting);
  const { wouldCreate } = await checkCredentials(config);
  for (const warning of [...warnings, ...tlsWarnings]) io.err(`caas serve: warning: ${warning}`);
  if (config.tlsCert === undefined) {
    io.out("would create an ad-hoc self-signed certificate in memory (development only; set CAAS_TLS_CERT and CAAS_TLS_KEY)");
    io.out(`would write its public half to ${join(config.stateDir, DEV_CERTIFICATE_FILE)}`);
  }
  for (const item of wouldCreate) io.out(`would create ${item}`);
  io.out("configuration ok");
  return EXIT_OK;
}

export { ConfigError, EXIT_CONFIG };
