/** `caas serve`: validate the configuration once, then listen (or, with --check, only validate). */
import { join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { DEV_CERTIFICATE_FILE } from "../credentials/development.ts";
import { type Store, StoreFileError } from "../files/store-errors.ts";
import {
  type Config,
  ConfigError,
  type ConfigOrigins,
  defaultText,
  loadConfigWithOrigins,
  type RawSettings,
  SETTINGS,
  unknownSettingVariables,
} from "../config.ts";
import { checkCredentials } from "../credentials/holder.ts";
import { createLogger, type Logger, summarisingRepeats } from "../log.ts";
import { startServer } from "../server/listener.ts";
import { handleSignals } from "../server/signals.ts";
import { loadTlsMaterial } from "../server/tls/files.ts";
import { remoteOpsWarning } from "../server/ops-listener.ts";
import { connectToSupervisor, superviseWorkers, WORKER_INDEX_ENV } from "../server/supervisor.ts";
import { commandFailed } from "./exit-codes.ts";
import { EXIT_CONFIG, EXIT_OK, EXIT_USAGE, type CliIo } from "./io.ts";

const settingOptions = Object.fromEntries(SETTINGS.map((setting) => [setting.flag, { type: "string" }])) as Record<
  string,
  { type: "string" }
>;

const OPTIONS = {
  ...settingOptions,
  config: { type: "string" },
  check: { type: "boolean" },
  json: { type: "boolean" },
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
  "  --json             with --check: one JSON document on stdout instead, with every setting's",
  "                     value and where it came from, what serve would create, and the warnings",
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
    return commandFailed(io, error, { prefix: "caas serve", options: Object.keys(OPTIONS) });
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
  if (values.json === true && values.check !== true) {
    io.err("caas serve: --json goes with --check only");
    return EXIT_USAGE;
  }
  const configFile = typeof values.config === "string" ? values.config : undefined;
  const { config, origins } = loadConfigWithOrigins({ flags, env: io.env, configFile });
  try {
    if (values.check === true) return await check(config, origins, io, values.json === true ? "json" : "text");
    return await serve(config, args, io);
  } catch (error) {
    throw namingTheSetting(error, config);
  }
}

/** A store's file that fails to load is reported, like every other setting, under its name. */
function namingTheSetting(error: unknown, config: Config): unknown {
  if (!(error instanceof StoreFileError)) return error;
  const setting = settingOf(error.store, config);
  return setting === undefined ? error : new ConfigError(`${setting}: ${error.message}`);
}

/** The setting that names a store's file; a file the state directory holds is the state directory's. */
function settingOf(store: Store, config: Config): string | undefined {
  switch (store) {
    case "secret_file":
      return config.secretFile === undefined ? "CAAS_STATE_DIR" : "CAAS_SECRET_FILE";
    case "keys_file":
      return "CAAS_API_KEYS_FILE";
    case "root_key":
      return config.rootKeyFile === undefined ? "CAAS_STATE_DIR" : "CAAS_ROOT_KEY_FILE";
    case "keyring_file":
      return config.keyringFile === undefined ? "CAAS_STATE_DIR" : "CAAS_KEYRING_FILE";
    case "state_directory":
      return "CAAS_STATE_DIR";
    case "key_file":
      return undefined;
  }
}

/** The drain a worker is given once its supervisor is gone, so it never serves unsupervised for long. */
const SUPERVISOR_GONE_DRAIN_SECONDS = 2;

async function serve(config: Config, args: readonly string[], io: CliIo): Promise<number> {
  const isWorker = io.env[WORKER_INDEX_ENV] !== undefined;
  // Said once, by the process the operator started; its workers inherit the same environment.
  const unknownVariables = isWorker ? [] : unknownSettingVariables(io.env);
  // A flood of refused requests is summarised, so it cannot crowd other lines out of journald.
  const logger = summarisingRepeats(createLogger(config.logLevel));
  for (const variable of unknownVariables)
    logger.warn("unknown_variable", { variable: variable.name, closest: variable.closest, message: variable.message });
  const remoteOps = isWorker ? undefined : remoteOpsWarning(config);
  if (remoteOps !== undefined) logger.warn("ops_listen_remote", { message: remoteOps });
  if (!isWorker && config.workers > 1) {
    await superviseWorkers(config, args, logger);
    return new Promise<number>(() => undefined);
  }
  const supervisor = isWorker ? await connectToSupervisor() : undefined;
  const running = await startServer(
    config,
    logger,
    supervisor === undefined ? { role: "standalone" } : { role: "worker", handoff: supervisor.handoff },
  );
  supervisor?.onHandoff((handoff) => void running.apply(handoff));
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

const AD_HOC_CERTIFICATE = "an ad-hoc self-signed certificate in memory (development only; set CAAS_TLS_CERT and CAAS_TLS_KEY)";

/** What `--check` found: said as plain lines, or as one JSON document with --json. */
interface CheckReport {
  /** Where the ad-hoc certificate's public half would be written; undefined when a certificate is configured. */
  readonly adHocCertificate: string | undefined;
  /** The files serve would create, in order. */
  readonly wouldCreate: readonly string[];
  /** What serve will do that an operator may not expect, though nothing is wrong (every key refused). */
  readonly notes: readonly string[];
  readonly warnings: readonly string[];
}

/** Everything serve would load, loaded and checked; nothing created, nothing bound. */
async function check(config: Config, origins: ConfigOrigins, io: CliIo, format: "text" | "json"): Promise<number> {
  const json = format === "json";
  const warnings = unknownSettingVariables(io.env).map((variable) => variable.message);
  const remoteOps = remoteOpsWarning(config);
  if (remoteOps !== undefined) warnings.push(remoteOps);
  const collecting: Logger = {
    ...createLogger("error", () => undefined),
    warn: (_event, fields) => {
      if (typeof fields?.message === "string") warnings.push(fields.message);
    },
  };
  await loadTlsMaterial(config, collecting);
  const credentials = await checkCredentials(config);
  const report: CheckReport = {
    adHocCertificate: config.tlsCert === undefined ? join(config.stateDir, DEV_CERTIFICATE_FILE) : undefined,
    wouldCreate: credentials.wouldCreate,
    notes: credentials.apiKeys === 0 ? [everyKeyRefused(config)] : [],
    warnings,
  };
  if (json) {
    io.out(JSON.stringify(checkJson(config, origins, report)));
    return EXIT_OK;
  }
  for (const warning of report.warnings) io.err(`caas serve: warning: ${warning}`);
  if (report.adHocCertificate !== undefined) {
    io.out(`would create ${AD_HOC_CERTIFICATE}`);
    io.out(`would write its public half to ${report.adHocCertificate}`);
  }
  for (const item of report.wouldCreate) io.out(`would create ${item}`);
  for (const note of report.notes) io.out(note);
  io.out("configuration ok");
  return EXIT_OK;
}

/** Every request that needs a key answers 401: said by --check, since otherwise only the running server's log says it. */
function everyKeyRefused(config: Config): string {
  const why = config.apiKeysFile === undefined ? "no API keys file (CAAS_API_KEYS_FILE)" : `${config.apiKeysFile} holds no API keys`;
  const oracle = config.oracleRequireKey ? ", and so does the oracle (CAAS_ORACLE_REQUIRE_KEY)" : "";
  return `${why}: every API key will be refused; the pseudonym (/encrypt, /encode, /verify) and keyring routes answer 401${oracle}`;
}

/**
 * The effective configuration as JSON: each setting's value (files as paths, never what they
 * hold; no setting's value is a secret) and where it came from, by the name the TOML file uses.
 */
function checkJson(config: Config, origins: ConfigOrigins, report: CheckReport): unknown {
  const adHoc =
    report.adHocCertificate === undefined ? [] : [AD_HOC_CERTIFICATE, `${report.adHocCertificate} (the ad-hoc certificate's public half)`];
  return {
    ok: true,
    mode: report.adHocCertificate === undefined ? "production" : "development",
    settings: Object.fromEntries(
      SETTINGS.map((setting) => [setting.file, { value: config[setting.key] ?? null, from: origins[setting.key], env: setting.env }]),
    ),
    would_create: [...adHoc, ...report.wouldCreate],
    notes: report.notes,
    warnings: report.warnings,
  };
}

export { ConfigError, EXIT_CONFIG };
