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
import { ensureStateSecret, loadSecretRing, planStateSecret, type SecretRing } from "./secret-ring.ts";

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

export async function loadCredentials(config: Config, logger: Logger): Promise<Credentials> {
  let secrets: SecretRing;
  if (config.secretFile !== undefined) {
    secrets = await loadSecretRing(config.secretFile);
  } else {
    const state = await ensureStateSecret(config.stateDir);
    secrets = state.ring;
    logger.warn(state.created ? "secret_created" : "secret_from_state_dir", {
      path: state.path,
      hint: "set CAAS_SECRET_FILE (caas secret init FILE) for production",
    });
  }
  const keyring = await loadKeyringOf(config, logger);
  const apiKeys = await loadApiKeys(config, logger, keyring);
  // Named, never shown: a compat key's digests use the original's public salts and legacy
  // hashes (md5, SHA-1 among them), and the key itself may be a short imported one.
  for (const record of apiKeys.records) {
    if (record.profile !== "django-compat") continue;
    logger.warn("django_compat_key", {
      name: record.name,
      hint: "its digests use public salts and legacy hashes and exist for migration only; re-hash with a standard key (README: migrating off django-compat), then caas keys remove it",
    });
  }
  logger.info("credentials_loaded", {
    apiKeys: apiKeys.size,
    // Every version in the file, and of those the retired ones (kept, no longer verifying).
    secretVersions: secrets.versions.length,
    retiredSecretVersions: secrets.versions.length - secrets.verifying.length,
    newestSecretVersion: secrets.newest.version,
    keyringKeys: keyring.size,
  });
  return { apiKeys, secrets, keyring };
}

/**
 * The configured keys file; in development without one, the development key alone; otherwise
 * none, and every key is refused.
 */
async function loadApiKeys(config: Config, logger: Logger, keyring: Keyring): Promise<ApiKeyStore> {
  if (config.apiKeysFile !== undefined) return ApiKeyStore.load(config.apiKeysFile);
  if (isDevelopment(config)) {
    const dev = await ensureDevApiKey(config.stateDir);
    logger.warn(dev.created ? "dev_api_key_created" : "dev_api_key", {
      name: DEV_API_KEY_NAME,
      path: dev.path,
      hint: "development only: the key is in this file; with CAAS_TLS_CERT set, CAAS_API_KEYS_FILE names the keys",
    });
    // Every scope, so every endpoint answers on the first run: the development keyring's keys included.
    const scopes = ["pseudonym", "oracle", ...keyring.names.map((name) => `keyring:${name}`)];
    return ApiKeyStore.fromKeys([{ name: DEV_API_KEY_NAME, key: dev.key, scopes }]);
  }
  logger.warn("no_api_keys", { hint: "set CAAS_API_KEYS_FILE (caas keys add NAME --file FILE); /encrypt refuses every key until then" });
  return ApiKeyStore.empty();
}

/**
 * The configured keyring, opened under the configured root key; in development with neither
 * set, the one in the state directory; otherwise none, and every keyring name is unknown.
 */
async function loadKeyringOf(config: Config, logger: Logger): Promise<Keyring> {
  if (config.keyringFile !== undefined && config.rootKeyFile !== undefined) {
    return loadKeyring(config.keyringFile, await loadRootKey(config.rootKeyFile));
  }
  if (config.rootKeyFile !== undefined) {
    await loadRootKey(config.rootKeyFile);
    return Keyring.empty();
  }
  if (isDevelopment(config)) {
    const dev = await ensureDevKeyring(config.stateDir);
    logger.warn(dev.created ? "dev_keyring_created" : "dev_keyring", {
      rootKey: dev.rootKeyPath,
      keyring: dev.keyringPath,
      keys: dev.keyring.names.join(","),
      hint: "development only: the root key is in the state directory; with CAAS_TLS_CERT set, CAAS_ROOT_KEY_FILE and CAAS_KEYRING_FILE name them",
    });
    return dev.keyring;
  }
  return Keyring.empty();
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
