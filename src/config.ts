/**
 * One typed, frozen Config for `caas serve`, from flags > environment (CAAS_*) > a TOML file,
 * checked once at the edge. Every failure names the setting and where its value came from.
 */
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism, homedir } from "node:os";
import { join } from "node:path";
import { isLoopbackHost, opsAddress, trustedProxyList } from "./addresses.ts";
import { closestName } from "./closest-name.ts";
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
  readonly pseudonymCacheUsers: number;
  readonly auditLog: string | undefined;
  readonly opsListen: string;
  readonly opsAllowRemote: boolean;
  readonly trustedProxies: string | undefined;
  readonly reloadOnChange: boolean;
}

export { ConfigError };

type Env = Readonly<Record<string, string | undefined>>;
type RawValue = string | number | boolean;

/** Turns a flag's, a variable's or the TOML file's value into the setting's; `where` names that source in the error. */
type Parse<V> = (value: RawValue, where: string) => V;

/** A default that depends on the environment: computed at load, described in the docs by its row's defaultText. */
export class ComputedDefault<V> {
  constructor(readonly compute: (env: Env) => V) {}
}

/** One setting: where it is read from, how it is checked, and its default, stated here and nowhere else. */
export interface Setting<K extends keyof Config = keyof Config> {
  readonly key: K;
  readonly env: string;
  readonly flag: string;
  readonly file: string;
  readonly parse: Parse<Exclude<Config[K], undefined>>;
  /** The value when no source sets it; undefined for a file that is optional. */
  readonly default: Config[K] | ComputedDefault<Config[K]>;
  /** The default as --help and the docs say it, where the value alone does not (computed, or none); markdown. */
  readonly defaultText?: string;
  readonly help: string;
  /** The file name looked for in $CREDENTIALS_DIRECTORY (systemd's LoadCredential=) when the setting is not given. */
  readonly credential?: string;
}

/** A row of the table: a Setting typed by its own Config key, so its parser and default must fit that field. */
type SettingRow = { readonly [K in keyof Config]: Setting<K> }[keyof Config];

function wholeNumber(min: number, max: number): Parse<number> {
  return (value, where) => {
    const text = String(value).trim();
    if (!/^\d+$/.test(text)) throw new ConfigError(`${where}: '${text}' is not a whole number`);
    const number = Number(text);
    if (number < min || number > max) throw new ConfigError(`${where}: ${number} is outside ${min}..${max}`);
    return number;
  };
}

function oneOf<V extends string>(...choices: readonly V[]): Parse<V> {
  return (value, where) => {
    const text = String(value);
    const choice = choices.find((candidate) => candidate === text);
    if (choice === undefined) throw new ConfigError(`${where}: '${text}' is not one of ${choices.join(", ")}`);
    return choice;
  };
}

const text: Parse<string> = (value, where) => {
  if (String(value).length === 0) throw new ConfigError(`${where}: must not be empty`);
  return String(value);
};

const existingFile: Parse<string> = (value, where) => {
  const path = String(value);
  if (!existsSync(path)) throw new ConfigError(`${where}: file '${path}' does not exist`);
  return path;
};

const port = wholeNumber(0, 65535);
const count = wholeNumber(1, 1_000_000);
const bytes = wholeNumber(64, 1024 * 1024 * 1024);
const seconds = wholeNumber(0, 3600);
const rate = wholeNumber(0, 10_000_000);
const workerCount: Parse<number> = (value, where) => (String(value) === "auto" ? availableParallelism() : count(value, where));

function tlsVersion(value: RawValue, where: string): TlsMinVersion {
  const version = String(value);
  if (version !== "1.2" && version !== "1.3") throw new ConfigError(`${where}: '${version}' is not 1.2 or 1.3`);
  return version;
}

const yesOrNo: Parse<boolean> = (value, where) => {
  const answer = String(value).trim().toLowerCase();
  if (answer === "true" || answer === "1" || answer === "yes" || answer === "on") return true;
  if (answer === "false" || answer === "0" || answer === "no" || answer === "off") return false;
  throw new ConfigError(`${where}: '${String(value)}' is not true or false`);
};

/** A ConfigError thrown by `check`, said again under `where` (the setting and where its value came from). */
function named<V>(where: string, check: () => V): V {
  try {
    return check();
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${where}: ${error.message}`);
    throw error;
  }
}

const addressList: Parse<string> = (value, where) => {
  const list = String(value).trim();
  named(where, () => trustedProxyList(list));
  return list;
};

const opsListen: Parse<string> = (value, where) => {
  const text = String(value).trim();
  named(where, () => opsAddress(text));
  return text;
};

function defaultStateDir(env: Env): string {
  // systemd's StateDirectory= hands us the path; otherwise follow the XDG convention.
  const systemdState = env.STATE_DIRECTORY?.split(":")[0];
  if (systemdState) return systemdState;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, "caas");
  return join(env.HOME ?? homedir(), ".local", "state", "caas");
}

/**
 * The table every source, the defaults, `serve --help`, README, docs/configuration.md and
 * deploy/caas.toml are read from or checked against (tests/unit/settings-docs.test.ts). A new
 * setting is one row here and its field in Config.
 */
// biome-ignore format: one setting per line, so the table reads as a table
export const SETTINGS = [
  { key: "host", env: "CAAS_HOST", flag: "host", file: "host", parse: text, default: "127.0.0.1", help: "address to listen on" },
  { key: "port", env: "CAAS_PORT", flag: "port", file: "port", parse: port, default: 8443, help: "TCP port; 0 picks a free one and logs it" },
  { key: "tlsCert", env: "CAAS_TLS_CERT", flag: "tls-cert", file: "tls_cert", parse: existingFile, default: undefined, defaultText: "none: an ad-hoc self-signed one (development only)", help: "PEM certificate chain", credential: "tls.crt" },
  { key: "tlsKey", env: "CAAS_TLS_KEY", flag: "tls-key", file: "tls_key", parse: existingFile, default: undefined, defaultText: "none", help: "PEM private key of the certificate; set both or neither", credential: "tls.key" },
  { key: "tlsClientCa", env: "CAAS_TLS_CLIENT_CA", flag: "tls-client-ca", file: "tls_client_ca", parse: existingFile, default: undefined, defaultText: "none: no client certificate asked for", help: "PEM CA bundle; when set, clients must present a certificate it signed", credential: "tls-client-ca.crt" },
  { key: "tlsMinVersion", env: "CAAS_TLS_MIN_VERSION", flag: "tls-min-version", file: "tls_min_version", parse: tlsVersion, default: "1.2", help: "1.2 or 1.3" },
  { key: "maxBody", env: "CAAS_MAX_BODY", flag: "max-body", file: "max_body", parse: bytes, default: 1024 * 1024, help: "largest request body in bytes" },
  { key: "maxBodyInFlight", env: "CAAS_MAX_BODY_IN_FLIGHT", flag: "max-body-in-flight", file: "max_body_in_flight", parse: bytes, default: 64 * 1024 * 1024, help: "request body bytes one process holds at once, at least CAAS_MAX_BODY; a body past it is 503 busy" },
  { key: "logLevel", env: "CAAS_LOG_LEVEL", flag: "log-level", file: "log_level", parse: oneOf<LogLevel>("debug", "info", "warn", "error"), default: "info", help: "debug (adds one access line per request), info, warn or error" },
  { key: "secretFile", env: "CAAS_SECRET_FILE", flag: "secret-file", file: "secret_file", parse: existingFile, default: undefined, defaultText: "one kept in the state directory", help: "server secret file (caas secret init)", credential: "secret" },
  { key: "apiKeysFile", env: "CAAS_API_KEYS_FILE", flag: "api-keys-file", file: "api_keys_file", parse: existingFile, default: undefined, defaultText: "none: /encrypt refuses every key", help: "API keys file (caas keys add)", credential: "api-keys" },
  { key: "rootKeyFile", env: "CAAS_ROOT_KEY_FILE", flag: "root-key-file", file: "root_key_file", parse: existingFile, default: undefined, defaultText: "none: no keyring (development: one in the state directory)", help: "root key that wraps the keyring (caas root-key init); systemd-creds can seal it", credential: "root-key" },
  { key: "keyringFile", env: "CAAS_KEYRING_FILE", flag: "keyring-file", file: "keyring_file", parse: existingFile, default: undefined, defaultText: "none: /keyring refuses every name (development: key dev in the state directory)", help: "keyring of named keys (caas keyring create)", credential: "keyring" },
  { key: "oracleRequireKey", env: "CAAS_ORACLE_REQUIRE_KEY", flag: "oracle-require-key", file: "oracle_require_key", parse: yesOrNo, default: false, help: "true: the oracle demands an API key with scope oracle" },
  { key: "stateDir", env: "CAAS_STATE_DIR", flag: "state-dir", file: "state_dir", parse: text, default: new ComputedDefault(defaultStateDir), defaultText: "`$STATE_DIRECTORY`, else `~/.local/state/caas`", help: "where the default secret is kept" },
  { key: "drainTimeoutSeconds", env: "CAAS_DRAIN_TIMEOUT", flag: "drain-timeout", file: "drain_timeout", parse: seconds, default: 10, help: "seconds to finish in-flight requests on SIGTERM" },
  { key: "workers", env: "CAAS_WORKERS", flag: "workers", file: "workers", parse: workerCount, default: 1, help: "worker processes sharing the port; auto is one per core" },
  { key: "rateLimit", env: "CAAS_RATE_LIMIT", flag: "rate-limit", file: "rate_limit", parse: rate, default: 0, help: "requests per second per client, with an equal burst; 0 is off" },
  { key: "batchMax", env: "CAAS_BATCH_MAX", flag: "batch-max", file: "batch_max", parse: count, default: 1000, help: "most items in one batch request" },
  { key: "pseudonymCacheUsers", env: "CAAS_PSEUDONYM_CACHE_USERS", flag: "pseudonym-cache-users", file: "pseudonym_cache_users", parse: count, default: 16_384, help: "users per secret version whose derived pseudonym key is kept (about 1.2 KB each), so a returning user costs one HMAC" },
  { key: "auditLog", env: "CAAS_AUDIT_LOG", flag: "audit-log", file: "audit_log", parse: text, default: undefined, defaultText: "off (the systemd unit: `/var/log/caas/audit.log`)", help: "audit trail: one JSON line per request that touches a secret, appended to this file (- for stdout); reopened on SIGHUP" },
  { key: "opsListen", env: "CAAS_OPS_LISTEN", flag: "ops-listen", file: "ops_listen", parse: opsListen, default: "127.0.0.1:9464", help: "plain-HTTP listener for /metrics, /healthz and /readyz, as host:port (port 0 picks a free one and logs it), or off; loopback only unless CAAS_OPS_ALLOW_REMOTE" },
  { key: "opsAllowRemote", env: "CAAS_OPS_ALLOW_REMOTE", flag: "ops-allow-remote", file: "ops_allow_remote", parse: yesOrNo, default: false, help: "true: CAAS_OPS_LISTEN may be an address other than loopback; /metrics names every API key and keyring key, over plain HTTP" },
  { key: "trustedProxies", env: "CAAS_TRUSTED_PROXIES", flag: "trusted-proxies", file: "trusted_proxies", parse: addressList, default: undefined, defaultText: "none: X-Forwarded-For is ignored", help: "proxies whose X-Forwarded-For names the client (audit lines, the rate limit), as comma-separated addresses or CIDRs" },
  { key: "reloadOnChange", env: "CAAS_RELOAD_ON_CHANGE", flag: "reload-on-change", file: "reload_on_change", parse: yesOrNo, default: true, help: "reload within 5 s of a change to any credential or TLS file loaded (a Kubernetes Secret's swap included); false leaves it to SIGHUP" },
] satisfies readonly SettingRow[];

/** A setting's default where it is a value, not computed from the environment: for code that has no Config to read it from. */
export function fixedDefault<K extends keyof Config>(key: K): Config[K] {
  const value = SETTINGS.find((setting) => setting.key === key)?.default;
  if (value === undefined || value instanceof ComputedDefault) throw new RangeError(`setting ${key} has no fixed default`);
  return value as Config[K];
}

/** A setting's default as --help and the docs state it: its defaultText, else its value. Markdown (code in backticks). */
export function defaultText(setting: Setting): string {
  if (setting.defaultText !== undefined) return setting.defaultText;
  return setting.default === undefined || setting.default instanceof ComputedDefault ? "none" : `\`${setting.default}\``;
}

/**
 * CAAS_* variables that are not settings but that caas itself, its tests or its clients set or
 * read: a supervisor's worker index, the test suites' switches, and what the client examples
 * read (examples/; a main server running caas beside its client has them set). The rest of
 * CAAS_* is a typo.
 */
export const NON_SETTING_VARIABLES: readonly string[] = [
  "CAAS_WORKER_INDEX",
  "CAAS_E2E_BINARY",
  "CAAS_FUZZ_SEED",
  "CAAS_FUZZ_RUNS",
  "CAAS_FUZZ_HEADER_RUNS",
  "CAAS_CHROMIUM",
  "CAAS_XAES_ITERATIONS",
  "CAAS_URL",
  "CAAS_API_KEY",
  "CAAS_CACERT",
  "CAAS_KEYRING_KEY",
  "CAAS_SIGNING_KEY",
];

export interface UnknownVariable {
  readonly name: string;
  /** The setting's variable nearest in edit distance: most likely what was meant. */
  readonly closest: string;
  readonly message: string;
}

/** CAAS_* variables that no setting reads: a misspelt one would otherwise be ignored silently. */
export function unknownSettingVariables(env: Readonly<Record<string, string | undefined>>): UnknownVariable[] {
  const settingVariables = SETTINGS.map((setting) => setting.env);
  const known = new Set([...settingVariables, ...NON_SETTING_VARIABLES]);
  return Object.keys(env)
    .filter((name) => name.startsWith("CAAS_") && !known.has(name))
    .sort()
    .map((name) => {
      const closest = closestName(name, settingVariables) ?? "";
      return { name, closest, message: `${name} is not a setting and is ignored (did you mean ${closest}?)` };
    });
}

export type RawSettings = Partial<Record<keyof Config, RawValue>>;

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

/** Every Config field has its row: a field added without one fails to compile here. */
const everyFieldHasARow: Record<Exclude<keyof Config, (typeof SETTINGS)[number]["key"]>, never> = {};
void everyFieldHasARow;

interface Found {
  readonly sources: ConfigSources;
  readonly fileValues: Readonly<Record<string, unknown>>;
}

/**
 * Where each setting's value came from, as its errors name it: `--port`, `CAAS_PORT`,
 * `/etc/caas/caas.toml: port`, `$CREDENTIALS_DIRECTORY/tls.crt`, or `default`.
 */
export type ConfigOrigins = Readonly<Record<keyof Config, string>>;

interface Resolved<V> {
  readonly value: V;
  readonly from: string;
}

function parsed<V>(parse: Parse<V>, value: RawValue, from: string): Resolved<V> {
  return { value: parse(value, from), from };
}

/** One setting's value: its flag, else its variable, else the TOML file, else its systemd credential, else its default. */
function resolve<K extends keyof Config>(setting: Setting<K>, { sources, fileValues }: Found): Resolved<Config[K]> {
  const flagValue = sources.flags[setting.key];
  const envValue = sources.env[setting.env];
  const fileValue = fileValues[setting.file];
  if (flagValue !== undefined) return parsed(setting.parse, flagValue, `--${setting.flag}`);
  if (envValue !== undefined && envValue !== "") return parsed(setting.parse, envValue, setting.env);
  if (fileValue !== undefined) {
    if (typeof fileValue !== "string" && typeof fileValue !== "number" && typeof fileValue !== "boolean") {
      throw new ConfigError(`${sources.configFile}: '${setting.file}' must be a string or number`);
    }
    return parsed(setting.parse, fileValue, `${sources.configFile}: ${setting.file}`);
  }
  const credentialsDirectory = sources.env.CREDENTIALS_DIRECTORY;
  if (setting.credential !== undefined && credentialsDirectory) {
    // Under systemd, LoadCredential=tls.crt:/etc/caas/tls.crt and friends need no setting at all.
    const path = join(credentialsDirectory, setting.credential);
    if (existsSync(path)) return parsed(setting.parse, path, `$CREDENTIALS_DIRECTORY/${setting.credential}`);
  }
  const fallback = setting.default;
  return { value: fallback instanceof ComputedDefault ? fallback.compute(sources.env) : fallback, from: "default" };
}

type Draft = { -readonly [K in keyof Config]?: Config[K] };

function fill<K extends keyof Config>(draft: Draft, origins: Record<string, string>, setting: Setting<K>, found: Found): void {
  const { value, from } = resolve(setting, found);
  draft[setting.key] = value;
  origins[setting.key] = from;
}

function isComplete(draft: Draft): draft is Config {
  return SETTINGS.every((setting) => setting.key in draft);
}

export function loadConfig(sources: ConfigSources): Config {
  return loadConfigWithOrigins(sources).config;
}

/** The Config, and where each of its values came from (for `serve --check --json`). */
export function loadConfigWithOrigins(sources: ConfigSources): { readonly config: Config; readonly origins: ConfigOrigins } {
  const fileValues = sources.configFile === undefined ? {} : readConfigFile(sources.configFile);
  const known = new Set(SETTINGS.map((setting) => setting.file));
  for (const name of Object.keys(fileValues)) {
    if (!known.has(name)) throw new ConfigError(`${sources.configFile}: unknown setting '${name}'`);
  }
  const config: Draft = {};
  const origins: Record<string, string> = {};
  for (const setting of SETTINGS) fill(config, origins, setting, { sources, fileValues });
  // Always true: every row was filled, and everyFieldHasARow holds every field to a row.
  if (!isComplete(config)) throw new Error("a Config field has no row in SETTINGS");
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
  // /metrics names every API key, keyring key and version, in plain HTTP: on the network only when asked for.
  const ops = opsAddress(config.opsListen);
  if (ops !== undefined && !config.opsAllowRemote && !isLoopbackHost(ops.hostname)) {
    throw new ConfigError(
      `CAAS_OPS_LISTEN: ${config.opsListen} is not a loopback address, and its plain-HTTP /metrics names every API key and keyring key; bind it to 127.0.0.1 or set CAAS_OPS_ALLOW_REMOTE=true`,
    );
  }
  // Every row filled its origin beside its value.
  return { config: Object.freeze(config), origins: Object.freeze(origins as ConfigOrigins) };
}

/** A Config for tests and embedding, with the defaults and no files. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return Object.freeze({ ...loadConfig({ flags: {}, env: {} }), ...overrides });
}
