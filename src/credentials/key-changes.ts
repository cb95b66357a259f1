/**
 * What the `caas keys` commands do to the API keys file: add a new key, import one, remove one,
 * list them. Each change holds the file's lock from its read to its rename, so commands run at
 * once lose nothing, and is checked with the server's own reader before it is written
 * (keys-file.ts).
 */
import { InvalidArgument } from "../errors.ts";
import { errnoReason } from "../files/errno.ts";
import { removePrivateFile, withPrivateFileLock } from "../files/private-file.ts";
import { asStoreErrors, StoreFileError } from "../files/store-errors.ts";
import { apiKeyHashHex, generateApiKey, PRESENTED_KEY_MAX_LENGTH } from "./api-keys.ts";
import {
  type ApiKeyProfile,
  DEFAULT_PROFILE,
  KEYS_FILE_ERRORS,
  type KeysFile,
  type KeysFileAt,
  readKeysFile,
  type StoredKey,
  writeKeysFile,
} from "./keys-file.ts";
import { checkKeyName, DEFAULT_SCOPES, isValidScope, SCOPE_FORMS } from "./scopes.ts";

/** Bounds for keys brought from elsewhere with `keys import`. */
export const IMPORTED_KEY_MIN_LENGTH = 16;
/**
 * A django-compat key only gates digests anyone can compute from the original's public salts,
 * so its strength protects nothing but server time; what matters is that the original's
 * clients keep the key they send (its README's is "example_api_key", 15 characters). Such keys
 * are logged as a warning at every start (credentials.ts) until migrated off.
 */
export const IMPORTED_COMPAT_KEY_MIN_LENGTH = 1;

/** A key to store: its name, what it answers like and what it may do (pseudonym alone, unless said). */
export interface NewKey {
  readonly name: string;
  readonly profile?: ApiKeyProfile;
  readonly scopes?: readonly string[];
}

/** `keys remove` of a name the file does not hold: exit 1, the file itself is fine (or absent, which holds no name either). */
function keyNotFound(path: string, name: string, file: "present" | "absent"): StoreFileError {
  const absent = file === "absent" ? " (the file does not exist)" : "";
  return new StoreFileError({ store: "keys_file", problem: "no_such_entry", path }, `${path} has no key named "${name}"${absent}`);
}

function checkScopes(scopes: readonly string[]): void {
  for (const scope of scopes) {
    if (!isValidScope(scope)) throw new InvalidArgument("api_keys", `a scope is ${SCOPE_FORMS}`);
  }
}

/** What storeKey found before it wrote: whether the file was there, so a key nobody saw can be taken back out. */
type FileBefore = "existed" | "created";

/** Adds one entry, under the lock the caller holds for the whole read-modify-write. */
async function storeKey(
  at: KeysFileAt,
  key: string,
  { name, profile = DEFAULT_PROFILE, scopes = DEFAULT_SCOPES }: NewKey,
): Promise<FileBefore> {
  checkKeyName(name, "api_keys");
  checkScopes(scopes);
  const { path } = at;
  let file: KeysFile;
  let before: FileBefore = "existed";
  try {
    file = await readKeysFile(path);
  } catch (error) {
    // A keys file that does not exist yet reads as empty, so `keys add` can start one.
    if (!StoreFileError.is(error, "keys_file", "missing")) throw error;
    file = { keys: [] };
    before = "created";
  }
  if (file.keys.some((stored) => stored.name === name))
    throw new StoreFileError(
      { store: "keys_file", problem: "name_taken", path },
      `${path} already has a key named "${name}"; remove it first or choose another name`,
    );
  const hash = apiKeyHashHex(key);
  const same = file.keys.find((stored) => stored.hash === hash);
  if (same !== undefined)
    throw new StoreFileError({ store: "keys_file", problem: "key_stored", path }, `this key is already in ${path} as "${same.name}"`);
  const entry: StoredKey = { name, profile, hash, created: new Date().toISOString(), scopes: [...new Set(scopes)] };
  await writeKeysFile(at, { keys: [...file.keys, entry] });
  return before;
}

function withKeysFileLock<T>(path: string, change: (at: KeysFileAt) => Promise<T>): Promise<T> {
  return asStoreErrors(KEYS_FILE_ERRORS, path, () => withPrivateFileLock(path, (target) => change({ path, target })));
}

/**
 * Adds a new random key and hands it to `show`: the only time it is ever seen in clear. `show`
 * runs before the lock is released; if it throws (stdout closed), the entry is taken out again
 * under the same lock, so no key stays in the file that nobody was shown, and a not_shown error
 * is thrown. The key is returned as well, for callers that show it themselves.
 */
export async function addKey(path: string, added: NewKey & { readonly show?: (key: string) => void }): Promise<string> {
  const key = generateApiKey();
  checkScopes(added.scopes ?? DEFAULT_SCOPES);
  await withKeysFileLock(path, async (at) => {
    const before = await storeKey(at, key, added);
    try {
      added.show?.(key);
    } catch (error) {
      await takeBackUnshown(at, added.name, { before, reason: errnoReason(error) });
    }
  });
  return key;
}

/** A key nobody saw opens nothing for anyone and only widens what a leak of the file's hashes gives: it is not kept. */
async function takeBackUnshown(
  at: KeysFileAt,
  name: string,
  why: { readonly before: FileBefore; readonly reason: string },
): Promise<never> {
  const { path } = at;
  const notShown = `the new key could not be written to standard output: ${why.reason}`;
  try {
    if (why.before === "existed") await removeEntry(at, name);
    else await asStoreErrors(KEYS_FILE_ERRORS, path, () => removePrivateFile(at.target));
  } catch {
    throw new StoreFileError(
      { store: "keys_file", problem: "not_shown", path },
      `${notShown}; and "${name}" could not be taken out of ${path} again; remove it with: caas keys remove ${name} --file ${path}`,
    );
  }
  throw new StoreFileError(
    { store: "keys_file", problem: "not_shown", path },
    `${notShown}; so "${name}" was not kept in ${path}; run the command again with stdout open`,
  );
}

/** Adds an existing key (for example the Django original's). */
export async function importKey(path: string, imported: NewKey & { readonly key: string }): Promise<void> {
  const { key, profile = DEFAULT_PROFILE } = imported;
  checkScopes(imported.scopes ?? DEFAULT_SCOPES);
  const minLength = profile === "django-compat" ? IMPORTED_COMPAT_KEY_MIN_LENGTH : IMPORTED_KEY_MIN_LENGTH;
  if (key.length < minLength || key.length > PRESENTED_KEY_MAX_LENGTH) {
    throw new InvalidArgument("api_keys", `an imported ${profile} key must be ${minLength} to ${PRESENTED_KEY_MAX_LENGTH} characters`);
  }
  // Keys travel in headers; whitespace or control characters there would not survive the trip.
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new InvalidArgument("api_keys", "an imported key must be printable ASCII without spaces");
  }
  await withKeysFileLock(path, async (at) => {
    await storeKey(at, key, imported);
  });
}

/** The file `keys remove` takes a name out of; one that does not exist holds no name, which is not a file error. */
async function readKeysFileToRemoveFrom(path: string, name: string): Promise<KeysFile> {
  try {
    return await readKeysFile(path);
  } catch (error) {
    if (StoreFileError.is(error, "keys_file", "missing")) throw keyNotFound(path, name, "absent");
    throw error;
  }
}

async function removeEntry(at: KeysFileAt, name: string): Promise<void> {
  const file = await readKeysFileToRemoveFrom(at.path, name);
  const kept = file.keys.filter((stored) => stored.name !== name);
  if (kept.length === file.keys.length) throw keyNotFound(at.path, name, "present");
  await writeKeysFile(at, { keys: kept });
}

/** Removes the key named `name`, under the file's lock, so a concurrent add cannot bring it back. */
export async function removeKey(path: string, name: string): Promise<void> {
  // Read once before the lock as well, so a name removed from no file leaves no lock file behind.
  await readKeysFileToRemoveFrom(path, name);
  await withKeysFileLock(path, (at) => removeEntry(at, name));
}

/** What `keys list` shows of each key: never the key, never its hash; scopes as the file holds them. */
export interface ListedKey {
  readonly name: string;
  readonly profile: ApiKeyProfile;
  readonly created: string;
  readonly scopes: readonly string[];
}

export async function listKeys(path: string): Promise<readonly ListedKey[]> {
  const file = await readKeysFile(path);
  return file.keys.map(({ name, profile, created, scopes }) => ({ name, profile, created, scopes: scopes ?? DEFAULT_SCOPES }));
}
