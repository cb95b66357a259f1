/**
 * What the server holds that can change while it runs: the API keys, the secret ring and the keyring.
 * Routes read `holder.current` once per request; a reload builds a whole new Credentials and
 * swaps it in, so a request never sees keys from one load and secrets from another.
 */
import { ApiKeyStore } from "./api-keys.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { DEV_API_KEY_NAME, ensureDevApiKey, ensureDevKeyring, isDevelopment, planDevApiKey, planDevKeyring } from "./development.ts";
import { Keyring } from "./keyring.ts";
import { loadKeyring } from "./keyring-file.ts";
import { loadRootKey } from "./root-key.ts";
import { loadSecretRing, type SecretRing } from "./secret-ring.ts";
import { ensureStateSecret, planStateSecret } from "./state-directory.ts";
import {
  type ApiKeySource,
  buildCredentials,
  type CredentialSources,
  type FileText,
  fingerprintOf,
  type KeyringSource,
  readKeyringSource,
  readKeysSource,
  readSecretSource,
} from "./sources.ts";

export interface Credentials {
  readonly apiKeys: ApiKeyStore;
  readonly secrets: SecretRing;
  readonly keyring: Keyring;
}

/** Credentials as given to the holder: a holder made without a keyring holds an empty one. */
export type CredentialsInput = Omit<Credentials, "keyring"> & { readonly keyring?: Keyring };

function complete(credentials: CredentialsInput): Credentials {
  return credentials.keyring === undefined ? { ...credentials, keyring: Keyring.empty() } : (credentials as Credentials);
}

export class CredentialsHolder {
  #current: Credentials;

  constructor(initial: CredentialsInput) {
    this.#current = complete(initial);
  }

  get current(): Credentials {
    return this.#current;
  }

  replace(next: CredentialsInput): void {
    this.#current = complete(next);
  }
}

/** What a load read and what it built from it; the fingerprint names the files (sources.ts). */
export interface LoadedCredentials {
  readonly sources: CredentialSources;
  readonly credentials: Credentials;
}

export async function loadCredentials(config: Config, logger: Logger): Promise<Credentials> {
  return credentialsFrom(await readCredentialSources(config, logger), logger);
}

/**
 * Reads every configured credential file (in development, the state directory's, made on the
 * first start), checking each with the private file rules; builds nothing yet.
 */
export async function readCredentialSources(config: Config, logger: Logger): Promise<CredentialSources> {
  let secret: FileText;
  if (config.secretFile !== undefined) {
    secret = await readSecretSource(config.secretFile);
  } else {
    const state = await ensureStateSecret(config.stateDir);
    secret = await readSecretSource(state.path);
    logger.warn(state.created ? "secret_created" : "secret_from_state_dir", {
      path: state.path,
      hint: "set CAAS_SECRET_FILE (caas secret init FILE) for production",
    });
  }
  const keyring = await readKeyringSourceOf(config, logger);
  const apiKeys = await readApiKeySource(config, logger);
  return { secret, apiKeys, ...(keyring === undefined ? {} : { keyring }) };
}

/** Builds the credentials from what was read (every file checked, all or nothing), and says what was loaded. */
export function credentialsFrom(sources: CredentialSources, logger: Logger, tls: readonly string[] = []): Credentials {
  const credentials = buildCredentials(sources);
  const { apiKeys, secrets, keyring } = credentials;
  // Named, never shown: a compat key's digests use the original's public salts and legacy
  // hashes (md5, SHA-1 among them), and the key itself may be a short imported one.
  for (const record of apiKeys.records) {
    if (record.profile !== "django-compat") continue;
    logger.warn("django_compat_key", {
      name: record.name,
      hint: "its digests use public salts and legacy hashes and exist for migration only; re-hash with a standard key (README: migrating off django-compat), then caas keys remove it",
    });
  }
  const versions = versionSummary(credentials);
  logger.info("credentials_loaded", {
    apiKeys: apiKeys.size,
    // Every version in the file, and of those the retired ones (kept, no longer verifying).
    secretVersions: secrets.versions.length,
    retiredSecretVersions: secrets.versions.length - secrets.verifying.length,
    newestSecretVersion: secrets.newest.version,
    activeSecretVersion: versions.secret.active,
    stagedSecretVersions: versions.secret.staged,
    keyringKeys: keyring.size,
    // name=version pairs, so an operator compares instances before promoting; never key material.
    keyringActive: versions.keyring.map((key) => `${key.name}=${key.active}`).join(","),
    keyringStaged: versions.keyring.map((key) => `${key.name}=${key.staged}`).join(","),
    fingerprint: fingerprintOf(sources, tls),
  });
  return credentials;
}

/** Per key, the version active now and how many are staged: what /metrics and the log show of a fleet's convergence. */
export interface VersionSummary {
  readonly secret: { readonly active: number; readonly staged: number };
  readonly keyring: readonly { readonly name: string; readonly active: number; readonly staged: number }[];
}

export function versionSummary(credentials: Credentials, now: number = Date.now()): VersionSummary {
  return {
    secret: { active: credentials.secrets.active(now).version, staged: credentials.secrets.timeline.stagedAt(now).length },
    keyring: credentials.keyring.names.map((name) => {
      const key = credentials.keyring.get(name);
      return { name, active: key?.activeVersion ?? 0, staged: key?.timeline.stagedAt(now).length ?? 0 };
    }),
  };
}

/**
 * The configured keys file; in development without one, the development key alone; otherwise
 * none, and every key is refused.
 */
async function readApiKeySource(config: Config, logger: Logger): Promise<ApiKeySource> {
  if (config.apiKeysFile !== undefined) return readKeysSource(config.apiKeysFile);
  if (isDevelopment(config)) {
    const dev = await ensureDevApiKey(config.stateDir);
    logger.warn(dev.created ? "dev_api_key_created" : "dev_api_key", {
      name: DEV_API_KEY_NAME,
      path: dev.path,
      hint: "development only: the key is in this file; with CAAS_TLS_CERT set, CAAS_API_KEYS_FILE names the keys",
    });
    return { kind: "development", path: dev.path, key: dev.key, name: DEV_API_KEY_NAME };
  }
  logger.warn("no_api_keys", { hint: "set CAAS_API_KEYS_FILE (caas keys add NAME --file FILE); /encrypt refuses every key until then" });
  return { kind: "none" };
}

/**
 * The configured keyring and root key; in development with neither set, the ones in the state
 * directory; otherwise none, and every keyring name is unknown.
 */
async function readKeyringSourceOf(config: Config, logger: Logger): Promise<KeyringSource | undefined> {
  if (config.rootKeyFile !== undefined) return readKeyringSource(config.rootKeyFile, config.keyringFile);
  if (isDevelopment(config)) {
    const dev = await ensureDevKeyring(config.stateDir);
    logger.warn(dev.created ? "dev_keyring_created" : "dev_keyring", {
      rootKey: dev.rootKeyPath,
      keyring: dev.keyringPath,
      keys: dev.keyring.names.join(","),
      hint: "development only: the root key is in the state directory; with CAAS_TLS_CERT set, CAAS_ROOT_KEY_FILE and CAAS_KEYRING_FILE name them",
    });
    return readKeyringSource(dev.rootKeyPath, dev.keyringPath);
  }
  return undefined;
}

export interface CredentialsCheck {
  /** What serve would create, in order. */
  readonly wouldCreate: readonly string[];
  /** How many API keys serve would accept: 0 means every request that needs a key is refused. */
  readonly apiKeys: number;
}

/**
 * For `caas serve --check`: loads and checks what loadCredentials would load, and names what it
 * would create, without creating it (a check that writes the state secret is not a dry run).
 */
export async function checkCredentials(config: Config): Promise<CredentialsCheck> {
  let wouldCreate: readonly string[] = [];
  let apiKeys = 0;
  if (config.secretFile !== undefined) await loadSecretRing(config.secretFile);
  else wouldCreate = (await planStateSecret(config.stateDir)).wouldCreate;
  if (config.apiKeysFile !== undefined) apiKeys = (await ApiKeyStore.load(config.apiKeysFile)).size;
  else if (isDevelopment(config)) {
    // The development key, found or made at start.
    apiKeys = 1;
    wouldCreate = [...wouldCreate, ...(await planDevApiKey(config.stateDir))];
  }
  if (config.rootKeyFile !== undefined) {
    const root = await loadRootKey(config.rootKeyFile);
    if (config.keyringFile !== undefined) await loadKeyring(config.keyringFile, root);
  } else if (isDevelopment(config)) wouldCreate = [...wouldCreate, ...(await planDevKeyring(config.stateDir))];
  return { wouldCreate, apiKeys };
}
