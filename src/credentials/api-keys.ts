/**
 * API keys: a JSON file of named, hashed keys, and the store the server looks keys up in.
 *
 *   {"keys":[{"name":"main-server","profile":"standard","hash":"<sha256 hex>","created":"<ISO 8601>"}]}
 *
 * Only SHA-256 of each key is kept. A fast hash is enough because generated keys carry 256
 * random bits (imported standard ones at least 16 characters; compat ones guard nothing secret,
 * see IMPORTED_COMPAT_KEY_MIN_LENGTH): there is no dictionary to run a slow
 * hash against, and a per-request password hash would only hand attackers a CPU lever.
 */

import { randomBytes } from "node:crypto";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { EncodingError, encodeUtf8, fromHex, toHex } from "../crypto/encoding.ts";
import { digest, digestHex } from "../crypto/hash.ts";
import { InvalidArgument, StoreFileError } from "../errors.ts";
import { errnoReason } from "../files/errno.ts";
import { type PrivateFileRules, readPrivateFile, removePrivateFile, withPrivateFileLock, writePrivateFile } from "../files/private-file.ts";
import { asStoreErrors, storeErrors } from "../files/store-errors.ts";

/** "standard" is the keyed pool; "django-compat" answers like the Django original. */
export const API_KEY_PROFILES = ["standard", "django-compat"] as const;
export type ApiKeyProfile = (typeof API_KEY_PROFILES)[number];
export const DEFAULT_PROFILE: ApiKeyProfile = "standard";

export const API_KEY_PREFIX = "caas_";
const API_KEY_RANDOM_BYTES = 32;
/** Bounds for keys brought from elsewhere with `keys import`. */
export const IMPORTED_KEY_MIN_LENGTH = 16;
/**
 * A django-compat key only gates digests anyone can compute from the original's public salts,
 * so its strength protects nothing but server time; what matters is that the original's
 * clients keep the key they send (its README's is "example_api_key", 15 characters). Such keys
 * are logged as a warning at every start (credentials.ts) until migrated off.
 */
export const IMPORTED_COMPAT_KEY_MIN_LENGTH = 1;
export const PRESENTED_KEY_MAX_LENGTH = 512;
/**
 * The keys file's limits, one set, as docs/security.md states them. The byte cap is what 100,000
 * keys take as caas writes them with the longest names and one scope each (about 300 bytes a key),
 * with room to spare, so the count is a limit a real file reaches; keys with many scopes reach
 * the byte cap first. Each is checked with an error that names it.
 */
export const KEYS_FILE_LIMITS = { bytes: 32 * 1024 * 1024, keys: 100_000, scopesPerKey: 1000 } as const;
const KEYS_FILE_MAX_SIZE = `${KEYS_FILE_LIMITS.bytes / (1024 * 1024)} MiB`;
/** Hashes are no secret, so others may read the file; writing it grants access, so nobody else may. */
const KEYS_FILE_RULES: PrivateFileRules = { forbiddenModeBits: 0o022, maxBytes: KEYS_FILE_LIMITS.bytes };

/** What a lookup answers and `keys list` shows: never the key, never its hash. */
export interface ApiKeyRecord {
  readonly name: string;
  readonly profile: ApiKeyProfile;
  readonly created: string;
  /** What the key may do (see SCOPE_PATTERN); a key stored without scopes has DEFAULT_SCOPES. */
  readonly scopes: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Scopes: what a key may do. "pseudonym" (the /encrypt family), "oracle" (the oracle when
// CAAS_ORACLE_REQUIRE_KEY is on), "keyring:NAME" (every operation on keyring key NAME) and
// "keyring:NAME:OP" (one operation). Key names hold no ':', so a scope reads one way only.

/** sign covers sign, hmac and jwt; verify covers verify, jwt/verify and public-key. */
export const KEYRING_OPERATIONS = ["encrypt", "decrypt", "rewrap", "datakey", "sign", "verify"] as const;
export type KeyringOperation = (typeof KEYRING_OPERATIONS)[number];
/**
 * What a keyring scope's OP may name: an operation, or "datakey-wrapped", the datakey operation
 * with {"plaintext": false} only, for a writer that stores wrapped keys and must never hold one.
 */
export const KEYRING_SCOPE_OPERATIONS = [...KEYRING_OPERATIONS, "datakey-wrapped"] as const;
export type KeyringPermission = (typeof KEYRING_SCOPE_OPERATIONS)[number];
/** What every key could do before scopes existed, so a keys file without them keeps working as it did. */
export const DEFAULT_SCOPES: readonly string[] = Object.freeze(["pseudonym"]);
const SCOPE_PATTERN = `^(?:pseudonym|oracle|keyring:[A-Za-z0-9][A-Za-z0-9._-]{0,63}(?::(?:${KEYRING_SCOPE_OPERATIONS.join("|")}))?)$`;
const scopePattern = new RegExp(SCOPE_PATTERN);
/** The scopes there are, in words, for the errors a bad --scope gets. */
export const SCOPE_FORMS = `pseudonym, oracle, keyring:NAME or keyring:NAME:OP (OP: ${KEYRING_SCOPE_OPERATIONS.join(", ")})`;

export function isValidScope(scope: string): boolean {
  return scopePattern.test(scope);
}

/** Whether the key may do `scope` ("pseudonym" or "oracle"). */
export function permits(record: ApiKeyRecord, scope: "pseudonym" | "oracle"): boolean {
  return record.scopes.includes(scope);
}

/** Whether `scope` is `whole` (keyring:NAME) followed by ":" and `operation`. */
function isOperationScope(scope: string, whole: string, operation: string): boolean {
  return (
    scope.length === whole.length + 1 + operation.length &&
    scope.startsWith(whole) &&
    scope.endsWith(operation) &&
    scope.charCodeAt(whole.length) === 58
  );
}

/**
 * Whether the key may do `permission` on keyring key `keyName`: its whole-key scope or that
 * operation's; "datakey-wrapped" is also allowed by "datakey", which gives more.
 */
export function permitsKeyring(record: ApiKeyRecord, keyName: string, permission: KeyringPermission): boolean {
  // A name from a request path may hold ':' (sent or percent-encoded): "orders:encrypt" would read
  // scope keyring:orders:encrypt as a whole-key scope. No keyring key has such a name, so no scope covers it.
  if (!isValidKeyName(keyName)) return false;
  const whole = `keyring:${keyName}`;
  for (const scope of record.scopes) {
    if (scope === whole || isOperationScope(scope, whole, permission)) return true;
    if (permission === "datakey-wrapped" && isOperationScope(scope, whole, "datakey")) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The format

/** Names are shown in logs and listings, so they are kept to plain, unambiguous characters. */
const NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
const namePattern = new RegExp(NAME_PATTERN);

const KeysFileSchema = Type.Object(
  {
    keys: Type.Array(
      Type.Object(
        {
          name: Type.String({ pattern: NAME_PATTERN }),
          profile: Type.Union(API_KEY_PROFILES.map((profile) => Type.Literal(profile))),
          hash: Type.String({ pattern: "^[0-9a-f]{64}$" }),
          created: Type.String({ minLength: 1, maxLength: 64 }),
          scopes: Type.Optional(Type.Array(Type.String({ pattern: SCOPE_PATTERN }), { maxItems: KEYS_FILE_LIMITS.scopesPerKey })),
        },
        { additionalProperties: false },
      ),
      { maxItems: KEYS_FILE_LIMITS.keys },
    ),
  },
  { additionalProperties: false },
);
type KeysFile = Static<typeof KeysFileSchema>;
type StoredKey = KeysFile["keys"][number];

export function isApiKeyProfile(value: string): value is ApiKeyProfile {
  return (API_KEY_PROFILES as readonly string[]).includes(value);
}

export function isValidKeyName(name: string): boolean {
  return namePattern.test(name);
}

/** A new key: "caas_" and 32 random bytes in unpadded base64url (48 characters in all). */
export function generateApiKey(): string {
  const random = new Uint8Array(randomBytes(API_KEY_RANDOM_BYTES));
  return API_KEY_PREFIX + random.toBase64({ alphabet: "base64url", omitPadding: true });
}

const generatedKeyPattern = /^caas_[A-Za-z0-9_-]{43}$/;

/** Whether `text` has the form generateApiKey gives. */
export function isGeneratedApiKey(text: string): boolean {
  return generatedKeyPattern.test(text);
}

/** SHA-256 of the key's UTF-8 bytes; what the keys file stores and the store compares. */
export function hashApiKey(key: string): Uint8Array {
  return digest("sha256", encodeUtf8(key));
}

/** hashApiKey in lowercase hex, as the keys file holds it and the store's Map is keyed. */
function apiKeyHashHex(key: string): string {
  return digestHex("sha256", encodeUtf8(key));
}

// ---------------------------------------------------------------------------------------------
// The store

interface StoreEntry {
  readonly record: ApiKeyRecord;
  readonly hash: Uint8Array;
}

/** An immutable set of keys; the server swaps in a new store to reload (SIGHUP). */
export class ApiKeyStore {
  readonly #entries: readonly StoreEntry[];
  /** Records by the hex SHA-256 of their key. */
  readonly #byHash: ReadonlyMap<string, ApiKeyRecord>;
  #lookups = 0;

  private constructor(entries: readonly StoreEntry[]) {
    this.#entries = entries;
    this.#byHash = new Map(entries.map((entry) => [toHex(entry.hash), entry.record]));
  }

  /** The store when no keys file is configured: every lookup fails. */
  static empty(): ApiKeyStore {
    return new ApiKeyStore([]);
  }

  /** Reads and validates a keys file. */
  static async load(path: string): Promise<ApiKeyStore> {
    return ApiKeyStore.fromText(path, await readKeysText(path));
  }

  /** A keys file's text, checked as load checks it (for text the supervisor read and handed over). */
  static fromText(path: string, text: string): ApiKeyStore {
    const file = parseKeysFile(path, text);
    return new ApiKeyStore(
      file.keys.map((stored) => ({
        record: Object.freeze({
          name: stored.name,
          profile: stored.profile,
          created: stored.created,
          scopes: Object.freeze([...(stored.scopes ?? DEFAULT_SCOPES)]),
        }),
        hash: fromHex(stored.hash),
      })),
    );
  }

  /** For tests and tools: a store of the given clear keys. */
  static fromKeys(
    keys: readonly { name: string; key: string; profile?: ApiKeyProfile; created?: string; scopes?: readonly string[] }[],
  ): ApiKeyStore {
    return new ApiKeyStore(
      keys.map(({ name, key, profile = DEFAULT_PROFILE, created = new Date().toISOString(), scopes = DEFAULT_SCOPES }) => ({
        record: Object.freeze({ name, profile, created, scopes: Object.freeze([...scopes]) }),
        hash: hashApiKey(key),
      })),
    );
  }

  get size(): number {
    return this.#entries.length;
  }

  /**
   * Keys hashed and looked up in this store so far. Hashing is the cost of authenticating, and
   * the rate-limit gate and a route both want the answer: this says whether it was paid once.
   */
  get lookups(): number {
    return this.#lookups;
  }

  /** Every key's record (name, profile, created, scopes), for start-up checks; never a key or hash. */
  get records(): readonly ApiKeyRecord[] {
    return this.#entries.map((entry) => entry.record);
  }

  /**
   * The record of the presented key, or undefined for anything else: missing, empty, not a
   * string, too long, not encodable or simply wrong all look the same to the caller.
   *
   * The lookup is by SHA-256 of the presented key, in a Map: what is compared is a hash the caller
   * cannot steer, so the comparison's timing can teach them nothing about a stored key (to move
   * one bit of the hash they would have to find a preimage), and one lookup costs the same for
   * ten keys as for ten thousand.
   */
  lookup(presented: unknown): ApiKeyRecord | undefined {
    if (typeof presented !== "string" || presented.length === 0 || presented.length > PRESENTED_KEY_MAX_LENGTH) {
      return undefined;
    }
    this.#lookups += 1;
    let hash: string;
    try {
      hash = apiKeyHashHex(presented);
    } catch (error) {
      if (error instanceof EncodingError) return undefined;
      throw error;
    }
    return this.#byHash.get(hash);
  }
}

// ---------------------------------------------------------------------------------------------
// The file

/** The keys file's errors (store "keys_file"); messages name the file and the fix, never its contents. */
export const KEYS_FILE_ERRORS = storeErrors({
  store: "keys_file",
  maxSize: KEYS_FILE_MAX_SIZE,
  missing: (path) => `keys file ${path} does not exist; create it with: caas keys add NAME --file ${path}`,
  invalid: (path, reason) => `keys file ${path} is not a valid caas keys file: ${reason}`,
  // Someone other than us or root could rewrite the file (its mode, owner or directory), and so add keys of their own.
  insecure: (found, fix) => `${found}; whoever can rewrite the keys file can add keys of their own, so caas refuses to use it. Fix: ${fix}`,
});

/** `keys remove` of a name the file does not hold: exit 1, the file itself is fine (or absent, which holds no name either). */
function keyNotFound(path: string, name: string, file: "present" | "absent"): StoreFileError {
  const absent = file === "absent" ? " (the file does not exist)" : "";
  return new StoreFileError({ store: "keys_file", problem: "no_such_entry", path }, `${path} has no key named "${name}"${absent}`);
}

async function readKeysFile(path: string): Promise<KeysFile> {
  return parseKeysFile(path, await readKeysText(path));
}

/** The keys file's text, read with the private file rules (owner, mode, directory, size). */
export function readKeysText(path: string): Promise<string> {
  return asStoreErrors(KEYS_FILE_ERRORS, path, () => readPrivateFile(path, KEYS_FILE_RULES));
}

const counted = (count: number) => count.toLocaleString("en");

/** The count limits, said as such: the schema would only point at the field. */
function checkCounts(path: string, json: unknown): void {
  const keys = typeof json === "object" && json !== null ? (json as { readonly keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys)) return;
  if (keys.length > KEYS_FILE_LIMITS.keys) {
    throw KEYS_FILE_ERRORS.invalid(
      path,
      `it holds ${counted(keys.length)} keys; a keys file holds at most ${counted(KEYS_FILE_LIMITS.keys)}`,
    );
  }
  keys.forEach((key: unknown, index) => {
    const scopes = typeof key === "object" && key !== null ? (key as { readonly scopes?: unknown }).scopes : undefined;
    if (Array.isArray(scopes) && scopes.length > KEYS_FILE_LIMITS.scopesPerKey) {
      throw KEYS_FILE_ERRORS.invalid(
        path,
        `the key at /keys/${index} has ${counted(scopes.length)} scopes; a key has at most ${counted(KEYS_FILE_LIMITS.scopesPerKey)}`,
      );
    }
  });
}

/** Every check the server applies to the file's text; also run on what a command is about to write. */
function parseKeysFile(path: string, text: string): KeysFile {
  if (Buffer.byteLength(text, "utf8") > KEYS_FILE_RULES.maxBytes) throw KEYS_FILE_ERRORS.invalid(path, `larger than ${KEYS_FILE_MAX_SIZE}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw KEYS_FILE_ERRORS.invalid(path, "not JSON");
  }
  checkCounts(path, json);
  if (!Value.Check(KeysFileSchema, json)) {
    const where = Value.Errors(KeysFileSchema, json).First()?.path || "/";
    throw KEYS_FILE_ERRORS.invalid(path, `unexpected, missing or malformed field at ${where}`);
  }
  const names = new Set<string>();
  const hashes = new Set<string>();
  for (const key of json.keys) {
    if (names.has(key.name)) throw KEYS_FILE_ERRORS.invalid(path, `the name "${key.name}" appears twice`);
    if (hashes.has(key.hash)) throw KEYS_FILE_ERRORS.invalid(path, `the key named "${key.name}" appears twice`);
    if (Number.isNaN(Date.parse(key.created))) throw KEYS_FILE_ERRORS.invalid(path, `"${key.name}" has no valid "created" date`);
    names.add(key.name);
    hashes.add(key.hash);
  }
  return json;
}

/**
 * Replaces the file atomically (see writePrivateFile), after reading what it is about to write
 * with the server's own checks, so no command leaves a file the server refuses.
 */
async function writeKeysFile(path: string, target: string, file: KeysFile): Promise<void> {
  const text = `${JSON.stringify(file, null, 2)}\n`;
  try {
    parseKeysFile(path, text);
  } catch (error) {
    if (StoreFileError.is(error, "keys_file", "invalid"))
      throw new StoreFileError(
        { store: "keys_file", problem: "refused", path },
        `refusing to write ${path}: the result would not load (${error.reason}); the file is left as it was`,
      );
    throw error;
  }
  await asStoreErrors(KEYS_FILE_ERRORS, path, () => writePrivateFile(target, text, "replace"));
}

function checkScopes(scopes: readonly string[]): void {
  for (const scope of scopes) {
    if (!isValidScope(scope)) {
      throw new InvalidArgument("api_keys", `a scope is ${SCOPE_FORMS}`);
    }
  }
}

function checkName(name: string): void {
  if (!isValidKeyName(name)) {
    throw new InvalidArgument("api_keys", "a key name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
  }
}

/** Adds one entry under the file's lock, for the whole read-modify-write; returns whether the file existed before. */
async function storeKey(
  path: string,
  target: string,
  name: string,
  key: string,
  profile: ApiKeyProfile,
  scopes: readonly string[],
): Promise<boolean> {
  checkName(name);
  checkScopes(scopes);
  let file: KeysFile;
  let existed = true;
  try {
    file = await readKeysFile(path);
  } catch (error) {
    // A keys file that does not exist yet reads as empty, so `keys add` can start one.
    if (!StoreFileError.is(error, "keys_file", "missing")) throw error;
    file = { keys: [] };
    existed = false;
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
  await writeKeysFile(path, target, { keys: [...file.keys, entry] });
  return existed;
}

function withKeysFileLock<T>(path: string, change: (target: string) => Promise<T>): Promise<T> {
  return asStoreErrors(KEYS_FILE_ERRORS, path, () => withPrivateFileLock(path, change));
}

/**
 * Adds a new random key under `name` and hands it to `show`: the only time it is ever seen in
 * clear. `show` runs before the lock is released; if it throws (stdout closed), the entry is
 * taken out again under the same lock, so no key stays in the file that nobody was shown, and
 * KeyNotShown is thrown. The key is returned as well, for callers that show it themselves.
 */
export async function addKey(
  path: string,
  name: string,
  profile: ApiKeyProfile = DEFAULT_PROFILE,
  show: (key: string) => void = () => undefined,
  scopes: readonly string[] = DEFAULT_SCOPES,
): Promise<string> {
  const key = generateApiKey();
  checkScopes(scopes);
  await withKeysFileLock(path, async (target) => {
    const existed = await storeKey(path, target, name, key, profile, scopes);
    try {
      show(key);
    } catch (error) {
      const notShown = `the new key could not be written to standard output: ${errnoReason(error)}`;
      try {
        if (existed) await removeEntry(path, target, name);
        else await asStoreErrors(KEYS_FILE_ERRORS, path, () => removePrivateFile(target));
      } catch {
        throw new StoreFileError(
          { store: "keys_file", problem: "not_shown", path },
          `${notShown}; and "${name}" could not be taken out of ${path} again; remove it with: caas keys remove ${name} --file ${path}`,
        );
      }
      // A key nobody saw opens nothing for anyone and only widens what a leak of the file's hashes gives: it is not kept.
      throw new StoreFileError(
        { store: "keys_file", problem: "not_shown", path },
        `${notShown}; so "${name}" was not kept in ${path}; run the command again with stdout open`,
      );
    }
  });
  return key;
}

/** Adds an existing key (for example the Django original's) under `name`. */
export async function importKey(
  path: string,
  name: string,
  key: string,
  profile: ApiKeyProfile = DEFAULT_PROFILE,
  scopes: readonly string[] = DEFAULT_SCOPES,
): Promise<void> {
  checkScopes(scopes);
  const minLength = profile === "django-compat" ? IMPORTED_COMPAT_KEY_MIN_LENGTH : IMPORTED_KEY_MIN_LENGTH;
  if (key.length < minLength || key.length > PRESENTED_KEY_MAX_LENGTH) {
    throw new InvalidArgument("api_keys", `an imported ${profile} key must be ${minLength} to ${PRESENTED_KEY_MAX_LENGTH} characters`);
  }
  // Keys travel in headers; whitespace or control characters there would not survive the trip.
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new InvalidArgument("api_keys", "an imported key must be printable ASCII without spaces");
  }
  await withKeysFileLock(path, async (target) => {
    await storeKey(path, target, name, key, profile, scopes);
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

async function removeEntry(path: string, target: string, name: string): Promise<void> {
  const file = await readKeysFileToRemoveFrom(path, name);
  const kept = file.keys.filter((stored) => stored.name !== name);
  if (kept.length === file.keys.length) throw keyNotFound(path, name, "present");
  await writeKeysFile(path, target, { keys: kept });
}

/** Removes the key named `name`, under the file's lock, so a concurrent add cannot bring it back. */
export async function removeKey(path: string, name: string): Promise<void> {
  // Read once before the lock as well, so a name removed from no file leaves no lock file behind.
  await readKeysFileToRemoveFrom(path, name);
  await withKeysFileLock(path, (target) => removeEntry(path, target, name));
}

export async function listKeys(path: string): Promise<readonly ApiKeyRecord[]> {
  const file = await readKeysFile(path);
  return file.keys.map(({ name, profile, created, scopes }) => ({ name, profile, created, scopes: scopes ?? DEFAULT_SCOPES }));
}
