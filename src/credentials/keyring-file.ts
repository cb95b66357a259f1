/**
 * The keyring file: every key, its versions and when each becomes active, each version's key
 * wrapped under the root key (root-key.ts).
 *
 *   {"keys":[{"name":"orders","created":"<ISO 8601>","min_decryption_version":1,
 *             "versions":[{"version":1,"created":"<ISO 8601>","key":"<base64>"},
 *                         {"version":2,"created":"<ISO 8601>","activation":"pending","key":"<base64>",
 *                          "also_wrapped":["<base64>"]}]}]}
 *
 * `activation` is absent (active since written, as before staged versions), "pending" (staged
 * until promoted) or an RFC 3339 time (key-versions.ts). `also_wrapped` holds the same key
 * wrapped under other root keys while the root key is being changed, so the file opens under
 * any of them. A file is checked whole, every version unwrapped, before it is used or written.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { XaesKey } from "../crypto/xaes.ts";
import { asStoreErrors, loadsBack, StoreFileError } from "../files/store-errors.ts";
import { privateFileTarget, type PrivateFileRules, readPrivateFile, withPrivateFileLock, writePrivateFile } from "../files/private-file.ts";
import { isValidKeyName } from "./scopes.ts";
import { parseActivation, PENDING_ACTIVATION } from "./key-versions.ts";
import { DEFAULT_KEY_TYPE, isSignatureType, KEY_TYPES, type KeyType } from "./key-types.ts";
import { MacKey, SigningKey } from "./signing-keys.ts";
import { generateSigningKey, HMAC_KEY_BYTES, type SigningKeyPair, signingKeyFromPkcs8 } from "../crypto/signing.ts";
import { KEYRING_FILE_ERRORS, KEYRING_FILE_MAX_BYTES, keyringChangeRefused, keyringKeyNotFound, otherRootKey } from "./keyring-errors.ts";
import { KEYRING_KEY_BYTES, Keyring, type KeyringEntry, KeyringKey, type KeyringKeyInfo, MAX_KEY_VERSION } from "./keyring.ts";
import { loadRootKey, type RootKey, unwrapVersionKey, type WrapSlot, wrapVersionKey } from "./root-key.ts";

/** Nobody else may read or write the keyring (rewriting it could delete keys). */
export const KEYRING_FILE_RULES: PrivateFileRules = { forbiddenModeBits: 0o077, maxBytes: KEYRING_FILE_MAX_BYTES };
/**
 * The keyring's limits, one set: a version as caas writes it takes at most about 480 bytes (two
 * extra wrappings during a root key change), so 50,000 versions fit in 32 MiB with room to spare,
 * and the count is always the limit reached first.
 */
export const MAX_KEYRING_KEYS = 10_000;
export const MAX_KEYRING_VERSIONS = 50_000;
const MAX_EXTRA_WRAPPINGS = 2;

const CREATED = Type.String({ minLength: 1, maxLength: 64 });
// 24-byte nonce, the key, 16-byte tag, in standard padded base64: 96 characters for a 32-byte
// key (xaes-256-gcm, hmac-sha256), more for a PKCS#8 private key (about 1,680 for rsa-2048).
const WRAPPED = Type.String({
  minLength: 96,
  maxLength: 2048,
  pattern: "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
});
const KeyringFileSchema = Type.Object(
  {
    keys: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 64 }),
          // Absent: xaes-256-gcm, the only type before types existed; caas writes none for it.
          // publish: a signing key's public versions are in the JWKS.
          type: Type.Optional(Type.Union(KEY_TYPES.map((type) => Type.Literal(type)))),
          publish: Type.Optional(Type.Boolean()),
          created: CREATED,
          min_decryption_version: Type.Integer({ minimum: 1, maximum: MAX_KEY_VERSION }),
          versions: Type.Array(
            Type.Object(
              {
                version: Type.Integer({ minimum: 1, maximum: MAX_KEY_VERSION }),
                created: CREATED,
                activation: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
                key: WRAPPED,
                also_wrapped: Type.Optional(Type.Array(WRAPPED, { minItems: 1, maxItems: MAX_EXTRA_WRAPPINGS })),
              },
              { additionalProperties: false },
            ),
            { minItems: 1 },
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type KeyringFile = Static<typeof KeyringFileSchema>;
export type StoredKey = KeyringFile["keys"][number];

const count = (n: number) => n.toLocaleString("en-US");

/** Every check the server applies to the file's text, unwrapping included; also run on what a command is about to write. */
export function parseKeyringFile(
  path: string,
  text: string,
  root: RootKey,
  now: number = Date.now(),
): { readonly file: KeyringFile; readonly keyring: Keyring } {
  if (Buffer.byteLength(text, "utf8") > KEYRING_FILE_RULES.maxBytes) throw KEYRING_FILE_ERRORS.of(path, { kind: "too_large" });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw KEYRING_FILE_ERRORS.invalid(path, "not JSON");
  }
  if (!Value.Check(KeyringFileSchema, json)) {
    // Only where, never what: a value may be wrapped key material.
    const where = Value.Errors(KeyringFileSchema, json).First()?.path || "/";
    throw KEYRING_FILE_ERRORS.invalid(path, `unexpected, missing or malformed field at ${where}`);
  }
  if (json.keys.length > MAX_KEYRING_KEYS)
    throw KEYRING_FILE_ERRORS.invalid(path, `it holds ${count(json.keys.length)} keys; a keyring holds at most ${count(MAX_KEYRING_KEYS)}`);
  const versions = json.keys.reduce((sum, key) => sum + key.versions.length, 0);
  if (versions > MAX_KEYRING_VERSIONS)
    throw KEYRING_FILE_ERRORS.invalid(
      path,
      `it holds ${count(versions)} versions in all; a keyring holds at most ${count(MAX_KEYRING_VERSIONS)}`,
    );
  const names = new Set<string>();
  const keys: KeyringEntry[] = [];
  for (const stored of json.keys) {
    // The name was checked for length only, so it is not quoted unless it is a valid one.
    if (!isValidKeyName(stored.name)) throw KEYRING_FILE_ERRORS.invalid(path, "a key name is not 1 to 64 letters, digits, '.', '_' or '-'");
    if (names.has(stored.name)) throw KEYRING_FILE_ERRORS.invalid(path, `the name "${stored.name}" appears twice`);
    names.add(stored.name);
    if (Number.isNaN(Date.parse(stored.created))) throw KEYRING_FILE_ERRORS.invalid(path, `"${stored.name}" has no valid "created" date`);
    for (let i = 1; i < stored.versions.length; i++) {
      if (stored.versions[i]!.version !== stored.versions[i - 1]!.version + 1) {
        throw KEYRING_FILE_ERRORS.invalid(path, `"${stored.name}" has versions that are not consecutive and ascending`);
      }
    }
    const oldest = stored.versions[0]!.version;
    const newest = stored.versions.at(-1)!.version;
    if (stored.min_decryption_version < oldest || stored.min_decryption_version > newest) {
      throw KEYRING_FILE_ERRORS.invalid(path, `"${stored.name}" has a min_decryption_version outside its versions ${oldest}..${newest}`);
    }
    const type = typeOf(stored);
    if (stored.publish === true && !isSignatureType(type))
      throw KEYRING_FILE_ERRORS.invalid(
        path,
        `"${stored.name}" is of type ${type}, whose keys cannot be published (only signing keys can)`,
      );
    const materials = new Map<number, Uint8Array>();
    for (const entry of stored.versions) {
      if (Number.isNaN(Date.parse(entry.created)))
        throw KEYRING_FILE_ERRORS.invalid(path, `"${stored.name}" version ${entry.version} has no valid "created" date`);
      if (parseActivation(entry.activation) === undefined)
        throw KEYRING_FILE_ERRORS.invalid(
          path,
          `"${stored.name}" version ${entry.version} has an "activation" that is neither "${PENDING_ACTIVATION}" nor a date`,
        );
      const material = openWrapped(root, stored, entry);
      if (material === undefined) throw otherRootKey(path, root.path);
      materials.set(entry.version, material);
    }
    try {
      keys.push(keyOf(path, { stored, type }, materials, now));
    } catch (error) {
      if (error instanceof RangeError)
        throw KEYRING_FILE_ERRORS.invalid(path, `"${stored.name}" has no version active now (every version is retired or staged)`);
      throw error;
    } finally {
      for (const material of materials.values()) material.fill(0);
    }
  }
  return { file: json, keyring: new Keyring(keys) };
}

export function typeOf(stored: StoredKey): KeyType {
  return stored.type ?? DEFAULT_KEY_TYPE;
}

/** The key in memory for its type, each version's material checked for that type (a keyring_file_invalid error when one is not). */
function keyOf(
  path: string,
  { stored, type }: { readonly stored: StoredKey; readonly type: KeyType },
  materials: ReadonlyMap<number, Uint8Array>,
  now: number,
): KeyringEntry {
  const info = infoOf(stored);
  const wrong = (version: number) => KEYRING_FILE_ERRORS.invalid(path, `"${stored.name}" version ${version} does not hold a ${type} key`);
  if (!isSignatureType(type)) {
    const bytes = type === "hmac-sha256" ? HMAC_KEY_BYTES : KEYRING_KEY_BYTES;
    for (const [version, material] of materials) if (material.length !== bytes) throw wrong(version);
    if (type === "hmac-sha256")
      return new MacKey(info, new Map([...materials].map(([version, material]) => [version, material.slice()])), now);
    return new KeyringKey(info, new Map([...materials].map(([version, material]) => [version, new XaesKey(material)])), now);
  }
  const pairs = new Map<number, SigningKeyPair>();
  for (const [version, material] of materials) {
    try {
      pairs.set(version, signingKeyFromPkcs8(type, material));
    } catch {
      // Not PKCS#8, or a key of another algorithm or size: either way not this key's.
      throw wrong(version);
    }
  }
  return new SigningKey({ ...info, type }, pairs, now);
}

/** Reads the keyring file and opens every version under the root key; a file that does not open is refused whole. */
export async function loadKeyring(path: string, root: RootKey): Promise<Keyring> {
  return parseKeyringFile(path, await readKeyringText(path), root).keyring;
}

/** The keyring file's text, read with the private file rules (owner, mode, directory, size). */
export function readKeyringText(path: string): Promise<string> {
  return asStoreErrors(KEYRING_FILE_ERRORS, path, () => readPrivateFile(path, KEYRING_FILE_RULES));
}

/** What a missing keyring file reads as: no keys (a command that starts the file) or an error. */
export type OnMissingKeyring = "empty" | "fail";

async function readKeyringFile(path: string, root: RootKey, onMissing: OnMissingKeyring): Promise<KeyringFile> {
  let text: string;
  try {
    text = await asStoreErrors(KEYRING_FILE_ERRORS, path, () => readPrivateFile(path, KEYRING_FILE_RULES));
  } catch (error) {
    if (onMissing === "empty" && StoreFileError.is(error, "keyring_file", "missing")) return { keys: [] };
    throw error;
  }
  return parseKeyringFile(path, text, root).file;
}

function serialize(file: KeyringFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Writes after reading the text back with the server's own checks (unwrapping every version), so no command leaves a file the server refuses. */
async function writeKeyringFile(
  { path, target }: { readonly path: string; readonly target: string },
  file: KeyringFile,
  root: RootKey,
  how: "create" | "replace" = "replace",
): Promise<Keyring> {
  const text = serialize(file);
  const keyring = loadsBack(
    "keyring_file",
    () => parseKeyringFile(path, text, root).keyring,
    (reason) => keyringChangeRefused(path, reason),
  );
  await asStoreErrors(KEYRING_FILE_ERRORS, path, () => writePrivateFile(target, text, how));
  return keyring;
}

/** Fresh key material for a version of `type`, from the CSPRNG: 32 bytes, or a PKCS#8 private key. */
function newMaterial(type: KeyType): Uint8Array {
  if (isSignatureType(type)) return generateSigningKey(type);
  return crypto.getRandomValues(new Uint8Array(type === "hmac-sha256" ? HMAC_KEY_BYTES : KEYRING_KEY_BYTES));
}

/** A fresh random version, wrapped under the root key for this name, number and type; active as `activation` says (absent: at once). */
export function newStoredVersion(
  root: RootKey,
  slot: WrapSlot & { readonly type: KeyType },
  activation?: string,
): StoredKey["versions"][number] {
  const material = newMaterial(slot.type);
  try {
    return {
      version: slot.version,
      created: new Date().toISOString(),
      ...(activation === undefined ? {} : { activation }),
      key: wrapVersionKey(root, slot, material),
    };
  } finally {
    material.fill(0);
  }
}

/** The version's key, opened from whichever of its wrappings `root` opens; undefined when none does. */
export function openWrapped(
  root: RootKey,
  key: Pick<StoredKey, "name" | "type">,
  entry: Pick<StoredKey["versions"][number], "version" | "key" | "also_wrapped">,
): Uint8Array | undefined {
  for (const wrapped of [entry.key, ...(entry.also_wrapped ?? [])]) {
    const material = unwrapVersionKey(root, { name: key.name, version: entry.version, type: key.type }, wrapped);
    if (material !== undefined) return material;
  }
  return undefined;
}

/** A keyring key to create: its name, its type (xaes-256-gcm unless said) and whether its public key is published. */
export interface NewKeyringKey {
  readonly name: string;
  readonly type?: KeyType;
  readonly publish?: boolean;
}

/** A new key: version 1, of `type` (written only when not xaes-256-gcm, so the build before reads an encryption key as it did). */
export function newKeyWithOneVersion(root: RootKey, { name, type = DEFAULT_KEY_TYPE, publish = false }: NewKeyringKey): StoredKey {
  return {
    name,
    ...(type === DEFAULT_KEY_TYPE ? {} : { type }),
    ...(publish ? { publish: true as const } : {}),
    created: new Date().toISOString(),
    min_decryption_version: 1,
    versions: [newStoredVersion(root, { name, version: 1, type })],
  };
}

/** Runs `change` on the file under its lock, with the root key loaded, and writes what it returns. */
export async function changeKeyring<T>(
  path: string,
  rootKeyPath: string,
  change: (file: KeyringFile, root: RootKey) => { readonly file: KeyringFile; readonly result: T },
  onMissing: OnMissingKeyring = "fail",
): Promise<T> {
  const root = await loadRootKey(rootKeyPath);
  return asStoreErrors(KEYRING_FILE_ERRORS, path, () =>
    withPrivateFileLock(path, async (target) => {
      const current = await readKeyringFile(path, root, onMissing);
      const { file, result } = change(current, root);
      await writeKeyringFile({ path, target }, file, root);
      return result;
    }),
  );
}

export function findKey(path: string, file: KeyringFile, name: string): StoredKey {
  const key = file.keys.find((stored) => stored.name === name);
  if (key === undefined) throw keyringKeyNotFound(path, name);
  return key;
}

export function replaceKey(file: KeyringFile, next: StoredKey): KeyringFile {
  return { keys: file.keys.map((stored) => (stored.name === next.name ? next : stored)) };
}

/** What `keyring list` and the server's log show of a stored key: never key material. */
export function infoOf(key: StoredKey): KeyringKeyInfo {
  return {
    name: key.name,
    type: typeOf(key),
    ...(key.publish === true ? { publish: true } : {}),
    created: key.created,
    minDecryptionVersion: key.min_decryption_version,
    versions: key.versions.map((entry) => {
      const activatesAt = parseActivation(entry.activation) ?? Number.NEGATIVE_INFINITY;
      return { version: entry.version, created: entry.created, ...(activatesAt === Number.NEGATIVE_INFINITY ? {} : { activatesAt }) };
    }),
  };
}

/** Creates a keyring file holding one new key (for development mode); refuses if it exists. */
export async function createKeyringFile(path: string, root: RootKey, keys: readonly NewKeyringKey[]): Promise<Keyring> {
  const target = await asStoreErrors(KEYRING_FILE_ERRORS, path, () => privateFileTarget(path));
  return writeKeyringFile({ path, target }, { keys: keys.map((key) => newKeyWithOneVersion(root, key)) }, root, "create");
}

/** Every key's name, versions and dates, checked as the server would (the root key must open it). */
export async function listKeyring(path: string, rootKeyPath: string): Promise<readonly KeyringKeyInfo[]> {
  const root = await loadRootKey(rootKeyPath);
  const file = await readKeyringFile(path, root, "fail");
  return file.keys.map(infoOf);
}
