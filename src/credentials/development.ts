/**
 * Development mode: what caas makes for itself when no certificate is configured, so that the
 * README's first start answers every endpoint. In the state directory, beside the state secret:
 *   dev-certificate.pem  the public half of the ad-hoc certificate, for clients to trust (curl --cacert)
 *   dev-api-key          one API key, named "dev", with every scope (mode 0600)
 *   dev-root-key         a root key (mode 0600), and
 *   dev-keyring.json     a keyring wrapped under it (mode 0600) with an encryption key "dev", a
 *                        published ECDSA P-256 signing key "dev-jwt" and an HMAC key "dev-hmac"
 * The log names these files, never the key. A configured certificate means production: nothing
 * here happens, and no key exists that the operator did not make.
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import { readPrivateFile, writePrivateFile } from "../files/private-file.ts";
import { asStoreErrors, StoreFileError } from "../files/store-errors.ts";
import { generateApiKey, isGeneratedApiKey } from "./api-keys.ts";
import { prepareStateDirectory, STATE_DIRECTORY_ERRORS, STATE_FILE_MAX_BYTES } from "./state-directory.ts";
import type { Keyring } from "./keyring.ts";
import { createKeyringKey } from "./keyring-changes.ts";
import { createKeyringFile, loadKeyring, type NewKeyringKey } from "./keyring-file.ts";
import { initRootKey, loadRootKey } from "./root-key.ts";

export const DEV_API_KEY_FILE = "dev-api-key";
export const DEV_CERTIFICATE_FILE = "dev-certificate.pem";
export const DEV_ROOT_KEY_FILE = "dev-root-key";
export const DEV_KEYRING_FILE = "dev-keyring.json";
/** The encryption key of the development keyring. */
export const DEV_KEYRING_KEY_NAME = "dev";
/**
 * What the development keyring holds, so every endpoint family answers on the first start: an
 * encryption key, a published signing key (JWTs verified against /.well-known/jwks.json) and an
 * HMAC key (webhook signatures).
 */
export const DEV_KEYRING_KEYS: readonly NewKeyringKey[] = [
  { name: DEV_KEYRING_KEY_NAME },
  { name: "dev-jwt", type: "ecdsa-p256", publish: true },
  { name: "dev-hmac", type: "hmac-sha256" },
];
/** The name the development key has in logs, listings and audit lines. */
export const DEV_API_KEY_NAME = "dev";

/** No certificate configured: the ad-hoc one, and everything else this file makes. */
export function isDevelopment(config: Config): boolean {
  return config.tlsCert === undefined;
}

export interface DevApiKey {
  readonly key: string;
  readonly path: string;
  readonly created: boolean;
}

async function readDevApiKey(path: string): Promise<string> {
  const text = await asStoreErrors(STATE_DIRECTORY_ERRORS, path, () =>
    readPrivateFile(path, { forbiddenModeBits: 0o077, maxBytes: STATE_FILE_MAX_BYTES }),
  );
  const key = text.trim();
  if (!isGeneratedApiKey(key)) throw STATE_DIRECTORY_ERRORS.invalid(path, "not a caas API key; delete the file and caas makes a new one");
  return key;
}

/**
 * The development API key: read from the state directory, or made there on the first start.
 * Several processes starting at once end up with one key: creation is create-if-absent.
 */
export async function ensureDevApiKey(stateDir: string): Promise<DevApiKey> {
  await prepareStateDirectory(stateDir);
  const path = join(stateDir, DEV_API_KEY_FILE);
  try {
    return { key: await readDevApiKey(path), path, created: false };
  } catch (error) {
    if (!StoreFileError.is(error, "state_directory", "missing")) throw error;
  }
  const key = generateApiKey();
  try {
    await asStoreErrors(STATE_DIRECTORY_ERRORS, path, () => writePrivateFile(path, `${key}\n`, "create"));
    return { key, path, created: true };
  } catch (error) {
    if (!StoreFileError.is(error, "state_directory", "exists")) throw error;
    return { key: await readDevApiKey(path), path, created: false };
  }
}

/** What ensureDevApiKey would create, for `serve --check`; nothing when the key is there. */
export async function planDevApiKey(stateDir: string): Promise<readonly string[]> {
  const path = join(stateDir, DEV_API_KEY_FILE);
  try {
    await readDevApiKey(path);
    return [];
  } catch (error) {
    if (!StoreFileError.is(error, "state_directory", "missing")) throw error;
    return [`${path} (a development API key, mode 0600)`];
  }
}

/** Writes the ad-hoc certificate (public) where clients can trust it; replaced on every start, as the certificate is new. */
export async function publishDevCertificate(stateDir: string, certificatePem: string): Promise<string> {
  await prepareStateDirectory(stateDir);
  const path = join(stateDir, DEV_CERTIFICATE_FILE);
  await asStoreErrors(STATE_DIRECTORY_ERRORS, path, () => writePrivateFile(path, certificatePem, "replace"));
  return path;
}

export interface DevKeyring {
  readonly keyring: Keyring;
  readonly rootKeyPath: string;
  readonly keyringPath: string;
  readonly created: boolean;
}

/**
 * The development keyring: a root key and a keyring holding DEV_KEYRING_KEYS, in the state
 * directory, read or made on the first start. Each file is create-if-absent, so processes
 * starting at once end up with one of each.
 */
export async function ensureDevKeyring(stateDir: string): Promise<DevKeyring> {
  await prepareStateDirectory(stateDir);
  const rootKeyPath = join(stateDir, DEV_ROOT_KEY_FILE);
  const keyringPath = join(stateDir, DEV_KEYRING_FILE);
  let created = false;
  try {
    await initRootKey(rootKeyPath);
    created = true;
  } catch (error) {
    if (!StoreFileError.is(error, "root_key", "exists")) throw error;
  }
  const root = await loadRootKey(rootKeyPath);
  let held: Keyring;
  try {
    held = await loadKeyring(keyringPath, root);
  } catch (error) {
    if (!StoreFileError.is(error, "keyring_file", "missing")) throw error;
    try {
      return { keyring: await createKeyringFile(keyringPath, root, DEV_KEYRING_KEYS), rootKeyPath, keyringPath, created: true };
    } catch (error) {
      if (!StoreFileError.is(error, "keyring_file", "exists")) throw error;
      held = await loadKeyring(keyringPath, root);
    }
  }
  if (missingDevKeys(held).length === 0) return { keyring: held, rootKeyPath, keyringPath, created };
  // Another process may add them at the same moment: read what the file holds once they are there.
  const added = await addMissingDevKeys(held, keyringPath, rootKeyPath);
  return { keyring: await loadKeyring(keyringPath, root), rootKeyPath, keyringPath, created: created || added };
}

/** The development keys `keyring` lacks: all of them but "dev" in one an older build made. */
function missingDevKeys(keyring: Keyring): readonly NewKeyringKey[] {
  return DEV_KEYRING_KEYS.filter((key) => !keyring.names.includes(key.name));
}

/**
 * A development keyring made by an older build holds "dev" alone: the keys added since are
 * created beside it (under the file's lock, so processes starting at once add each once). A key
 * of one of those names that the developer made themselves is kept as it is. Says whether this
 * process added any.
 */
async function addMissingDevKeys(keyring: Keyring, keyringPath: string, rootKeyPath: string): Promise<boolean> {
  let added = false;
  for (const key of missingDevKeys(keyring)) {
    try {
      await createKeyringKey(keyringPath, rootKeyPath, key);
      added = true;
    } catch (error) {
      if (!StoreFileError.is(error, "keyring_file", "name_taken")) throw error;
    }
  }
  return added;
}

/** What ensureDevKeyring would create, for `serve --check`; what exists is loaded and checked. */
export async function planDevKeyring(stateDir: string): Promise<readonly string[]> {
  const rootKeyPath = join(stateDir, DEV_ROOT_KEY_FILE);
  const keyringPath = join(stateDir, DEV_KEYRING_FILE);
  const wouldCreate: string[] = [];
  try {
    const root = await loadRootKey(rootKeyPath);
    try {
      const missing = missingDevKeys(await loadKeyring(keyringPath, root));
      if (missing.length > 0) wouldCreate.push(`${keysNamed(missing)} in ${keyringPath} (development keys an older build did not make)`);
    } catch (error) {
      if (!StoreFileError.is(error, "keyring_file", "missing")) throw error;
      wouldCreate.push(`${keyringPath} (a development keyring with ${keysNamed(DEV_KEYRING_KEYS)}, mode 0600)`);
    }
  } catch (error) {
    if (!StoreFileError.is(error, "root_key", "missing")) throw error;
    wouldCreate.push(`${rootKeyPath} (a development root key, mode 0600)`);
    wouldCreate.push(`${keyringPath} (a development keyring with ${keysNamed(DEV_KEYRING_KEYS)}, mode 0600)`);
  }
  return wouldCreate;
}

function keysNamed(keys: readonly NewKeyringKey[]): string {
  return `keys ${keys.map((key) => `'${key.name}'`).join(", ")}`;
}
