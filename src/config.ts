/**
 * One typed, frozen Config for `caas serve`, from flags > environment (CAAS_*) > a TOML file,
 * checked once at the edge. Every failure names the setting and where its value came from.
 */
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism, homedir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "./errors.ts";
import type { LogLevel } from "./log.ts";

export type { LogLevel };
export type TlsMinVersion = "1.2" | "1.3";

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly tlsClientCa: string | undefined;
  readonly tlsMinVersion: TlsMinVersion;
  readonly maxBody: number;
  readonly maxBodyInFlight: number;
  readonly logLevel: LogLevel;
  readonly secretFile: string | undefined;
  readonly apiKeysFile: string | undefined;
  readonly rootKeyFile: string | undefined;
  readonly keyringFile: string | undefined;
  readonly oracleRequireKey: boolean;
  readonly stateDir: string;
  readonly drainTimeoutSeconds: number;
  readonly workers: number;
  readonly rateLimit: number;
  readonly batchMax: number;
}

export { ConfigError };

type Kind = "string" | "path" | "port" | "count" | "bytes" | "seconds" | "rate" | "level" | "tls-version" | "boolean";

interface Setting {
  readonly key: keyof Config;
  readonly env: string;
  readonly flag: string;
  readonly file: string;
  readonly kind: Kind;
  readonly help: string;
  /** The file name looked for in $CREDENTIALS_DIRECTORY (systemd's LoadCredential=) when the setting is not given. */
  readonly credential?: string;
}

/** The table every source, the help text and the README's configuration section are read from. */
export const SETTINGS: readonly Setting[] = [
  { key: "host", env: "CAAS_HOST", flag: "host", file: "host", kind: "string", help: "address to listen on (default 127.0.0.1)" },
  { key: "port", env: "CAAS_PORT", flag: "port", file: "port", kind: "port", help: "TCP port (default 8443; 0 picks a free one and logs it)" },
  { key: "tlsCert", env: "CAAS_TLS_CERT", flag: "tls-cert", file: "tls_cert", kind: "path", help: "PEM certificate chain; none: ad-hoc self-signed (development only)", credential: "tls.crt" },
  { key: "tlsKey", env: "CAAS_TLS_KEY", flag: "tls-key", file: "tls_key", kind: "path", help: "PEM private key for --tls-cert", credential: "tls.key" },
  { key: "tlsClientCa", env: "CAAS_TLS_CLIENT_CA", flag: "tls-client-ca", file: "tls_client_ca", kind: "path", help: "PEM CA bundle; when set, clients must present a certificate it signed", credential: "tls-client-ca.crt" },
  { key: "tlsMinVersion", env: "CAAS_TLS_MIN_VERSION", flag: "tls-min-version", file: "tls_min_version", kind: "tls-version", help: "1.2 (default) or 1.3" },
  { key: "maxBody", env: "CAAS_MAX_BODY", flag: "max-body", file: "max_body", kind: "bytes", help: "largest request body in bytes (default 1048576)" },
  { key: "maxBodyInFlight", env: "CAAS_MAX_BODY_IN_FLIGHT", flag: "max-body-in-flight", file: "max_body_in_flight", kind: "bytes", help: "request body bytes one process holds at once; a body past it is 503 busy (default 67108864)" },
  { key: "logLevel", env: "CAAS_LOG_LEVEL", flag: "log-level", file: "log_level", kind: "level", help: "debug, info (default), warn or error" },
  { key: "secretFile", env: "CAAS_SECRET_FILE", flag: "secret-file", file: "secret_file", kind: "path", help: "server secret file (caas secret init); none: one kept in the state directory", credential: "secret" },
  { key: "apiKeysFile", env: "CAAS_API_KEYS_FILE", flag: "api-keys-file", file: "api_keys_file", kind: "path", help: "API keys file (caas keys add); none: /encrypt refuses every key", credential: "api-keys" },
  { key: "rootKeyFile", env: "CAAS_ROOT_KEY_FILE", flag: "root-key-file", file: "root_key_file", kind: "path", help: "root key that wraps the keyring (caas root-key init); systemd-creds can seal it", credential: "root-key" },
  { key: "keyringFile", env: "CAAS_KEYRING_FILE", flag: "keyring-file", file: "keyring_file", kind: "path", help: "keyring of named keys (caas keyring create); none: /keyring refuses every name", credential: "keyring" },
  { key: "oracleRequireKey", env: "CAAS_ORACLE_REQUIRE_KEY", flag: "oracle-require-key", file: "oracle_require_key", kind: "boolean", help: "true: the oracle demands an API key with scope oracle (default false)" },
  { key: "stateDir", env: "CAAS_STATE_DIR", flag: "state-dir", file: "state_dir", kind: "string", help: "where the default secret is kept (default $STATE_DIRECTORY or ~/.local/state/caas)" },
  { key: "drainTimeoutSeconds", env: "CAAS_DRAIN_TIMEOUT", flag: "drain-timeout", file: "drain_timeout", kind: "seconds", help: "seconds to finish in-flight requests on SIGTERM (default 10)" },
  { key: "workers", env: "CAAS_WORKERS", flag: "workers", file: "workers", kind: "count", help: "worker processes sharing the port (default 1; 'auto' = one per core)" },
  { key: "rateLimit", env: "CAAS_RATE_LIMIT", flag: "rate-limit", file: "rate_limit", kind: "rate", help: "requests per second per client, with an equal burst; 0 disables (default)" },
  { key: "batchMax", env: "CAAS_BATCH_MAX", flag: "batch-max", file: "batch_max", kind: "count", help: "most items in one batch request (default 1000)" },
];

/**
 * CAAS_* variables that are not settings but that caas itself or its tests set or read: a
 * supervisor's worker index, and the test suites' switches. The rest of CAAS_* is a typo.
 */
export const NON_SETTING_VARIABLES: readonly string[] = ["CAAS_WORKER_INDEX", "CAAS_E2E_BINARY", "CAAS_FUZZ_SEED", "CAAS_FUZZ_RUNS", "CAAS_CHROMIUM", "CAAS_XAES_ITERATIONS"];

export interface UnknownVariable {
  readonly name: string;
  /** The setting's variable nearest in edit distance: most likely what was meant. */
  readonly closest: string;
  readonly message: string;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** CAAS_* variables that no setting reads: a misspelt one would otherwise be ignored silently. */
export function unknownSettingVariables(env: Readonly<Record<string, string | undefined>>): UnknownVariable[] {
  const known = new Set([...SETTINGS.map((setting) => setting.env), ...NON_SETTING_VARIABLES]);
  return Object.keys(env)
    .filter((name) => name.startsWith("CAAS_") && !known.has(name))
    .sort()
    .map((name) => {
      let closest = SETTINGS[0]!.env;
      for (const setting of SETTINGS) if (editDistance(name, setting.env) < editDistance(name, closest)) closest = setting.env;
      return { name, closest, message: `${name} is not a setting and is ignored (did you mean ${closest}?)` };
    });
}

type RawValue = string | number | boolean;
export type RawSettings = Partial<Record<keyof Config, RawValue>>;

function defaultStateDir(env: Readonly<Record<string, string | undefined>>): string {
  // systemd's StateDirectory= hands us the path; otherwise follow the XDG convention.
  const systemdState = env.STATE_DIRECTORY?.split(":")[0];
  if (systemdState) return systemdState;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, "caas");
  return join(env.HOME ?? homedir(), ".local", "state", "caas");
}

function wholeNumber(value: RawValue, where: string, min: number, max: number): number {
  const text = String(value).trim();
  if (!/^\d+$/.test(text)) throw new ConfigError(`${where}: '${text}' is not a whole number`);
  const number = Number(text);
  if (number < min || number > max) throw new ConfigError(`${where}: ${number} is outside ${min}..${max}`);
  return number;
}

function convert(setting: Setting, value: RawValue, where: string): string | number | boolean {
  switch (setting.kind) {
    case "string":
      if (String(value).length === 0) throw new ConfigError(`${where}: must not be empty`);
      return String(value);
    case "path": {
      const path = String(value);
      if (!existsSync(path)) throw new ConfigError(`${where}: file '${path}' does not exist`);
      return path;
    }
    case "port":
      return wholeNumber(value, where, 0, 65535);
    case "count":
      if (setting.key === "workers" && String(value) === "auto") return availableParallelism();
      return wholeNumber(value, where, 1, 1_000_000);
    case "bytes":
      return wholeNumber(value, where, 64, 1024 * 1024 * 1024);
    case "seconds":
      return wholeNumber(value, where, 0, 3600);
    case "rate":
      return wholeNumber(value, where, 0, 10_000_000);
    case "level": {
      const level = String(value);
      if (level !== "debug" && level !== "info" && level !== "warn" && level !== "error") {
        throw new ConfigError(`${where}: '${level}' is not one of debug, info, warn, error`);
      }
      return level;
    }
    case "boolean": {
      const text = String(value).trim().toLowerCase();
      if (text === "true" || text === "1" || text === "yes" || text === "on") return true;
      if (text === "false" || text === "0" || text === "no" || text === "off") return false;
      throw new ConfigError(`${where}: '${String(value)}' is not true or false`);
    }
    case "tls-version": {
      const version = String(value);
      if (version !== "1.2" && version !== "1.3") throw new ConfigError(`${where}: '${version}' is not 1.2 or 1.3`);
      return version;
    }
  }
}

export interface ConfigSources {
  readonly flags: RawSettings;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Path of the TOML file given with --config, if any. */
  readonly configFile?: string | undefined;
}

function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new ConfigError(`--config: file '${path}' does not exist`);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new ConfigError(`--config: file '${path}' cannot be read`);
  }
  let parsed: unknown;
  try {
    parsed = Bun.TOML.parse(text);
  } catch (error) {
    throw new ConfigError(`--config: '${path}' is not valid TOML (${error instanceof Error ? error.message : "parse error"})`);
  }
  if (typeof parsed !== "object" || parsed === null) throw new ConfigError(`--config: '${path}' is not a TOML table`);
  return parsed as Record<string, unknown>;
}

export function loadConfig(sources: ConfigSources): Config {
  const fileValues = sources.configFile === undefined ? {} : readConfigFile(sources.configFile);
  const known = new Set(SETTINGS.map((setting) => setting.file));
  for (const name of Object.keys(fileValues)) {
    if (!known.has(name)) throw new ConfigError(`${sources.configFile}: unknown setting '${name}'`);
  }

  const credentialsDirectory = sources.env.CREDENTIALS_DIRECTORY;
  const resolved: Record<string, string | number | boolean | undefined> = {};
  for (const setting of SETTINGS) {
    const flagValue = sources.flags[setting.key];
    const envValue = sources.env[setting.env];
    const fileValue = fileValues[setting.file];
    if (flagValue !== undefined) {
      resolved[setting.key] = convert(setting, flagValue, `--${setting.flag}`);
    } else if (envValue !== undefined && envValue !== "") {
      resolved[setting.key] = convert(setting, envValue, setting.env);
    } else if (fileValue !== undefined) {
      if (typeof fileValue !== "string" && typeof fileValue !== "number" && typeof fileValue !== "boolean") {
        throw new ConfigError(`${sources.configFile}: '${setting.file}' must be a string or number`);
      }
      resolved[setting.key] = convert(setting, fileValue, `${sources.configFile}: ${setting.file}`);
    } else if (setting.credential !== undefined && credentialsDirectory) {
      // Under systemd, LoadCredential=tls.crt:/etc/caas/tls.crt and friends need no setting at all.
      const path = join(credentialsDirectory, setting.credential);
      if (existsSync(path)) resolved[setting.key] = path;
    }
  }

  const config: Config = {
    host: (resolved.host as string | undefined) ?? "127.0.0.1",
    port: (resolved.port as number | undefined) ?? 8443,
    tlsCert: resolved.tlsCert as string | undefined,
    tlsKey: resolved.tlsKey as string | undefined,
    tlsClientCa: resolved.tlsClientCa as string | undefined,
    tlsMinVersion: (resolved.tlsMinVersion as TlsMinVersion | undefined) ?? "1.2",
    maxBody: (resolved.maxBody as number | undefined) ?? 1024 * 1024,
    maxBodyInFlight: (resolved.maxBodyInFlight as number | undefined) ?? 64 * 1024 * 1024,
    logLevel: (resolved.logLevel as LogLevel | undefined) ?? "info",
    secretFile: resolved.secretFile as string | undefined,
    apiKeysFile: resolved.apiKeysFile as string | undefined,
    rootKeyFile: resolved.rootKeyFile as string | undefined,
    keyringFile: resolved.keyringFile as string | undefined,
    oracleRequireKey: (resolved.oracleRequireKey as boolean | undefined) ?? false,
    stateDir: (resolved.stateDir as string | undefined) ?? defaultStateDir(sources.env),
    drainTimeoutSeconds: (resolved.drainTimeoutSeconds as number | undefined) ?? 10,
    workers: (resolved.workers as number | undefined) ?? 1,
    rateLimit: (resolved.rateLimit as number | undefined) ?? 0,
    batchMax: (resolved.batchMax as number | undefined) ?? 1000,
  };
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError("CAAS_TLS_CERT and CAAS_TLS_KEY: set both or neither");
  }
  // The keyring's keys are wrapped under the root key: without it the file is only ciphertext.
  if (config.keyringFile !== undefined && config.rootKeyFile === undefined) {
    throw new ConfigError("CAAS_KEYRING_FILE: needs CAAS_ROOT_KEY_FILE, the root key its keys are wrapped under");
  }
  // Otherwise a body within CAAS_MAX_BODY but over the budget would be refused forever.
  if (config.maxBodyInFlight < config.maxBody) {
    throw new ConfigError(`CAAS_MAX_BODY_IN_FLIGHT: ${config.maxBodyInFlight} is less than CAAS_MAX_BODY (${config.maxBody})`);
  }
  return Object.freeze(config);
}

/** A Config for tests and embedding, with the defaults and no files. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return Object.freeze({ ...loadConfig({ flags: {}, env: {} }), ...overrides });
}
