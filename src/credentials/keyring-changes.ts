/**
 * What the `caas keyring` commands change in the keyring file, each under the file's lock, the
 * result checked with the server's own reader before it is written (keyring-file.ts).
 */
import { activationField } from "./key-versions.ts";
import { InvalidArgument } from "../errors.ts";
import { keyringChangeRefused, keyringKeyExists } from "./keyring-errors.ts";
import { type KeyringKeyInfo, MAX_KEY_VERSION } from "./keyring.ts";
import {
  changeKeyring,
  findKey,
  infoOf,
  newKeyWithOneVersion,
  type NewKeyringKey,
  newStoredVersion,
  openWrapped,
  replaceKey,
  type StoredKey,
  typeOf,
} from "./keyring-file.ts";
import { DEFAULT_KEY_TYPE, isSignatureType } from "./key-types.ts";
import { loadRootKey, type RootKey, wrapVersionKey } from "./root-key.ts";
import { checkKeyName } from "./scopes.ts";

/** Adds key `name` of `type` with version 1; starts the file if it does not exist. Only a signing key may be published. */
export async function createKeyringKey(path: string, rootKeyPath: string, created: NewKeyringKey): Promise<KeyringKeyInfo> {
  const { name, type = DEFAULT_KEY_TYPE, publish = false } = created;
  checkKeyName(name, "keyring");
  if (publish && !isSignatureType(type))
    throw new InvalidArgument("keyring", `--publish is for signing keys (ed25519, ecdsa-p256, rsa-2048); a ${type} key has no public part`);
  return changeKeyring(
    path,
    rootKeyPath,
    (file, root) => {
      if (file.keys.some((stored) => stored.name === name)) throw keyringKeyExists(path, name);
      const key = newKeyWithOneVersion(root, { name, type, publish });
      return { file: { keys: [...file.keys, key] }, result: infoOf(key) };
    },
    "empty",
  );
}

/**
 * Adds version n+1 to key `name`, staged: it decrypts wherever the file is loaded and encrypts
 * from `activatesAt` ("pending" until promoted, when not given; now, for the one-step rotation).
 */
export async function rotateKeyringKey(
  path: string,
  rootKeyPath: string,
  name: string,
  activatesAt: number = Number.POSITIVE_INFINITY,
): Promise<KeyringKeyInfo> {
  checkKeyName(name, "keyring");
  return changeKeyring(path, rootKeyPath, (file, root) => {
    const key = findKey(path, file, name);
    const newest = key.versions.at(-1)!.version;
    if (newest >= MAX_KEY_VERSION)
      throw keyringChangeRefused(path, `"${name}" already has version ${MAX_KEY_VERSION}, the highest a key can have`);
    const next: StoredKey = {
      ...key,
      versions: [...key.versions, newStoredVersion(root, { name, version: newest + 1, type: typeOf(key) }, activationField(activatesAt))],
    };
    return { file: replaceKey(file, next), result: infoOf(next) };
  });
}

/**
 * Makes `version` of `name` the one that encrypts from `activatesAt` (now, or a time written in
 * the file, so every instance that loaded it switches at once). An older version promoted again
 * becomes active again (a rollback); a version below the minimum decryption version cannot.
 */
export async function promoteKeyringVersion(
  path: string,
  rootKeyPath: string,
  name: string,
  version: { readonly version: number; readonly activatesAt: number },
): Promise<KeyringKeyInfo> {
  checkKeyName(name, "keyring");
  checkVersionArgument(version.version, "VERSION");
  return changeKeyring(path, rootKeyPath, (file) => {
    const key = findKey(path, file, name);
    if (!key.versions.some((entry) => entry.version === version.version))
      throw keyringChangeRefused(
        path,
        `"${name}" has no version ${version.version} (it holds ${key.versions[0]!.version}-${key.versions.at(-1)!.version})`,
      );
    if (version.version < key.min_decryption_version)
      throw keyringChangeRefused(
        path,
        `version ${version.version} of "${name}" is below the minimum decryption version (${key.min_decryption_version}) and decrypts nothing, so it cannot become active`,
      );
    const activation = activationField(version.activatesAt);
    const next: StoredKey = {
      ...key,
      versions: key.versions.map((entry) => {
        if (entry.version !== version.version) return entry;
        const { activation: _previous, ...rest } = entry;
        return activation === undefined ? rest : { ...rest, activation };
      }),
    };
    return { file: replaceKey(file, next), result: infoOf(next) };
  });
}

/** Ciphertexts below `version` stop decrypting (a version at or below the newest, and not below a trimmed one). */
export async function setMinDecryptionVersion(path: string, rootKeyPath: string, name: string, version: number): Promise<KeyringKeyInfo> {
  checkKeyName(name, "keyring");
  checkVersionArgument(version, "--min-decryption-version");
  return changeKeyring(path, rootKeyPath, (file) => {
    const key = findKey(path, file, name);
    const oldest = key.versions[0]!.version;
    const active = activeNow(path, key);
    if (version > active)
      throw keyringChangeRefused(
        path,
        `version ${active} of "${name}" is the one that encrypts, so the minimum decryption version cannot pass it (asked ${version})`,
      );
    if (version < oldest)
      throw keyringChangeRefused(
        path,
        `versions of "${name}" below ${oldest} were trimmed, so the minimum decryption version cannot go below ${oldest}`,
      );
    const next: StoredKey = { ...key, min_decryption_version: version };
    return { file: replaceKey(file, next), result: infoOf(next) };
  });
}

/** Deletes the versions of `name` below `below`, only where none of them still decrypts (below ≤ min decryption version). */
export async function trimKeyringKey(
  path: string,
  rootKeyPath: string,
  name: string,
  below: number,
): Promise<{ readonly info: KeyringKeyInfo; readonly deleted: readonly number[] }> {
  checkKeyName(name, "keyring");
  checkVersionArgument(below, "--below");
  return changeKeyring(path, rootKeyPath, (file) => {
    const key = findKey(path, file, name);
    if (below > key.min_decryption_version) {
      throw keyringChangeRefused(
        path,
        `versions at or above the minimum decryption version (${key.min_decryption_version}) still decrypt; raise it first (caas keyring set ${name} --min-decryption-version ${below})`,
      );
    }
    const deleted = key.versions.filter((entry) => entry.version < below).map((entry) => entry.version);
    const next: StoredKey = { ...key, versions: key.versions.filter((entry) => entry.version >= below) };
    return { file: replaceKey(file, next), result: { info: infoOf(next), deleted } };
  });
}

function checkVersionArgument(version: number, option: string): void {
  if (!Number.isSafeInteger(version) || version < 1 || version > MAX_KEY_VERSION) {
    throw new InvalidArgument("keyring", `${option} takes a version number from 1 to ${MAX_KEY_VERSION}`);
  }
}

/** The version of a stored key that encrypts now, as the server would build it. */
function activeNow(path: string, key: StoredKey): number {
  const entry = infoOf(key);
  let active: { version: number; at: number } | undefined;
  for (const version of entry.versions) {
    const at = version.activatesAt ?? Number.NEGATIVE_INFINITY;
    if (version.version < entry.minDecryptionVersion || at > Date.now()) continue;
    if (active === undefined || at > active.at || (at === active.at && version.version > active.version))
      active = { version: version.version, at };
  }
  if (active === undefined) throw keyringChangeRefused(path, `"${key.name}" has no version active now`);
  return active.version;
}

/**
 * Root key rotation, step one: wraps every version of every key also under `next`, so the file
 * opens under the current root key and under the new one alike, and instances can move to the new
 * root key one at a time. Versions already wrapped under `next` are left as they are.
 */
export async function addRootKey(path: string, rootKeyPath: string, nextRootKeyPath: string): Promise<{ readonly versions: number }> {
  const next = await loadRootKey(nextRootKeyPath);
  return changeKeyring(path, rootKeyPath, (file, root) => {
    let versions = 0;
    const keys = file.keys.map((key) => ({
      ...key,
      versions: key.versions.map((entry) => {
        if (openWrapped(next, key, entry) !== undefined) return entry;
        const material = openWrapped(root, key, entry) as Uint8Array;
        try {
          versions += 1;
          return {
            ...entry,
            also_wrapped: [
              ...(entry.also_wrapped ?? []),
              wrapVersionKey(next, { name: key.name, version: entry.version, type: key.type }, material),
            ],
          };
        } finally {
          material.fill(0);
        }
      }),
    }));
    return { file: { keys }, result: { versions } };
  });
}

/**
 * Root key rotation, last step: drops every wrapping that opens under `old`, once every instance
 * reads the file with the root key given as current (`rootKeyPath`); refused when that would leave
 * a version no wrapping of which opens under it.
 */
export async function removeRootKey(path: string, rootKeyPath: string, oldRootKeyPath: string): Promise<{ readonly versions: number }> {
  const old = await loadRootKey(oldRootKeyPath);
  return changeKeyring(path, rootKeyPath, (file, root) => {
    let versions = 0;
    const keys = file.keys.map((key) => ({
      ...key,
      versions: key.versions.map((entry) => {
        const kept = [entry.key, ...(entry.also_wrapped ?? [])].filter((wrapped) => !opensUnder(old, key, entry.version, wrapped));
        const [first, ...rest] = kept;
        if (first === undefined || !kept.some((wrapped) => opensUnder(root, key, entry.version, wrapped)))
          throw keyringChangeRefused(
            path,
            `version ${entry.version} of "${key.name}" opens under no root key but the one being removed; add the new one first (caas keyring root-key add)`,
          );
        if (kept.length === 1 + (entry.also_wrapped?.length ?? 0)) return entry;
        versions += 1;
        const { also_wrapped: _dropped, ...rest0 } = entry;
        return rest.length === 0 ? { ...rest0, key: first } : { ...rest0, key: first, also_wrapped: rest };
      }),
    }));
    return { file: { keys }, result: { versions } };
  });
}

function opensUnder(root: RootKey, key: StoredKey, version: number, wrapped: string): boolean {
  const material = openWrapped(root, key, { version, key: wrapped });
  material?.fill(0);
  return material !== undefined;
}
