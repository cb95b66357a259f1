/**
 * The keyring: named keys the service holds and never hands out, each with numbered versions,
 * and the root key that wraps them on disk.
 *
 *   root key      32 random bytes in a file of their own (caas root-key init), mode 0600; under
 *                 systemd it may be an encrypted credential (systemd-creds, LoadCredentialEncrypted=)
 *   keyring file  {"keys":[{"name":"orders","created":"<ISO 8601>","min_decryption_version":1,
 *                   "versions":[{"version":1,"created":"<ISO 8601>","key":"<base64>"}]}]}
 *
 * Each version's 32-byte key is stored as XAES-256-GCM nonce ‖ ciphertext ‖ tag under the root
 * key, with the key's name and version as associated data, so the keyring file alone reveals
 * nothing, and a wrapped version moved to another name or number no longer opens.
 *
 * A keyring ciphertext is one string, `caas:v<version>:<base64 of nonce ‖ ciphertext ‖ tag>`,
 * sealed with XAES-256-GCM (a random 192-bit nonce) under that version, authenticating the key's
 * name, the version and the caller's aad together (length-prefixed, see crypto/framing.ts).
 */

import { randomBytes } from "node:crypto";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { AuthenticationFailed } from "../crypto/aead.ts";
import { EncodingError, encodeUtf8, fromBase64, toBase64 } from "../crypto/encoding.ts";
import { lengthPrefixed, uint32Bytes } from "../crypto/framing.ts";
import { XAES_NONCE_BYTES, XAES_TAG_BYTES, XaesKey, randomXaesNonce } from "../crypto/xaes.ts";
import { CaasError, DecryptionFailed, InvalidCiphertext, KeyVersionRetired } from "../errors.ts";
import {
  asStoreErrors,
  privateFileTarget,
  type PrivateFileRules,
  readPrivateFile,
  readPrivateFileBytes,
  StoreFileError,
  type StoreErrors,
  withPrivateFileLock,
  writePrivateFile,
} from "../files/private-file.ts";
import { isValidKeyName } from "./api-keys.ts";

export const ROOT_KEY_BYTES = 32;
export const KEYRING_KEY_BYTES = 32;
/** The highest version a key can reach; also what a ciphertext's version may say. */
export const MAX_KEY_VERSION = 2 ** 31 - 1;
/** Nobody else may read the root key; nobody else may read or write the keyring (rewriting it could delete keys). */
const ROOT_KEY_RULES: PrivateFileRules = { forbiddenModeBits: 0o077, maxBytes: 1024 };
const KEYRING_FILE_RULES: PrivateFileRules = { forbiddenModeBits: 0o077, maxBytes: 16 * 1024 * 1024 };

const DATA_DOMAIN = encodeUtf8("caas keyring data v1");
const WRAP_DOMAIN = encodeUtf8("caas keyring wrap v1");
const CIPHERTEXT_PREFIX = "caas:v";
/** Nonce, at least an empty plaintext's tag. */
const MIN_SEALED_BYTES = XAES_NONCE_BYTES + XAES_TAG_BYTES;

// ---------------------------------------------------------------------------------------------
// Errors: a family per file, each with a stable code, which src/cli/exit-codes.ts gives its exit
// status (78 for most, busy 75, no such key 1). Messages name the file and the fix, never its contents.

export abstract class RootKeyFileError extends StoreFileError {}

export class RootKeyMissing extends RootKeyFileError {
  readonly code = "root_key_missing";
  constructor(path: string) {
    super(path, `root key file ${path} does not exist; create one with: caas root-key init ${path}`);
  }
}

export class RootKeyExists extends RootKeyFileError {
  readonly code = "root_key_exists";
  constructor(path: string) {
    super(path, `root key file ${path} already exists; refusing to overwrite it (every keyring wrapped under it would be lost)`);
  }
}

export class RootKeyInvalid extends RootKeyFileError {
  readonly code = "root_key_invalid";
  constructor(path: string, reason: string) {
    super(path, `root key file ${path} is not a caas root key: ${reason}`);
  }
}

export class RootKeyInsecure extends RootKeyFileError {
  readonly code = "root_key_insecure";
  constructor(path: string, subject: string, sentence: string, fix: string) {
    super(path, `${subject} ${sentence}; refusing to use it. Fix: ${fix}`);
  }
}

export class RootKeyUnreadable extends RootKeyFileError {
  readonly code = "root_key_unreadable";
  constructor(path: string, cause: string) {
    super(path, `cannot read ${path}: ${cause}`);
  }
}

export class RootKeyUnwritable extends RootKeyFileError {
  readonly code = "root_key_unwritable";
  constructor(path: string, cause: string) {
    super(path, `cannot write ${path}: ${cause}`);
  }
}

export abstract class KeyringFileError extends StoreFileError {}

export class KeyringFileMissing extends KeyringFileError {
  readonly code = "keyring_file_missing";
  constructor(path: string) {
    super(path, `keyring file ${path} does not exist; create it with: caas keyring create NAME --file ${path} --root-key ROOT_KEY_FILE`);
  }
}

/** Another process created the file first (development mode's create-if-absent). */
export class KeyringFileExists extends KeyringFileError {
  readonly code = "keyring_file_exists";
  constructor(path: string) {
    super(path, `keyring file ${path} already exists`);
  }
}

export class KeyringFileInvalid extends KeyringFileError {
  readonly code = "keyring_file_invalid";
  constructor(
    path: string,
    readonly reason: string,
  ) {
    super(path, `keyring file ${path} is not a valid caas keyring: ${reason}`);
  }
}

/** The file is well formed but its keys do not open under this root key: another root key, or an altered file. */
export class KeyringRootKeyMismatch extends KeyringFileError {
  readonly code = "keyring_root_key_mismatch";
  constructor(path: string, rootKeyPath: string) {
    super(
      path,
      `keyring file ${path} does not open under the root key in ${rootKeyPath}: it was made with another root key, or it was altered`,
    );
  }
}

export class KeyringFileInsecure extends KeyringFileError {
  readonly code = "keyring_file_insecure";
  constructor(path: string, subject: string, sentence: string, fix: string) {
    super(path, `${subject} ${sentence}; refusing to use it. Fix: ${fix}`);
  }
}

export class KeyringFileUnreadable extends KeyringFileError {
  readonly code = "keyring_file_unreadable";
  constructor(path: string, cause: string) {
    super(path, `cannot read ${path}: ${cause}`);
  }
}

export class KeyringFileUnwritable extends KeyringFileError {
  readonly code = "keyring_file_unwritable";
  constructor(path: string, cause: string) {
    super(path, `cannot write ${path}: ${cause}`);
  }
}

export class KeyringFileBusy extends KeyringFileError {
  readonly code = "keyring_file_busy";
  constructor(path: string) {
    super(path, `${path} is being changed by another caas command and stayed locked for 10 s; try again`);
  }
}

/** The change would leave a file the server refuses to load, or break a rule of the keyring; the file is left as it was. */
export class KeyringFileRefused extends KeyringFileError {
  readonly code = "keyring_file_refused";
  constructor(path: string, reason: string) {
    super(path, `refusing to change ${path}: ${reason}; the file is left as it was`);
  }
}

export class KeyringKeyExists extends KeyringFileError {
  readonly code = "keyring_key_exists";
  constructor(path: string, name: string) {
    super(path, `${path} already has a key named "${name}"; rotate it (caas keyring rotate ${name}) or choose another name`);
  }
}

export class KeyringKeyNotFound extends KeyringFileError {
  readonly code = "keyring_key_not_found";
  constructor(path: string, name: string) {
    super(path, `${path} has no key named "${name}"`);
  }
}

/** A bad argument (a name, a version number): the CLI answers with usage, exit 2. */
export class InvalidKeyringArgument extends CaasError {
  readonly code = "invalid_keyring_argument";
}

const ROOT_KEY_ERRORS: StoreErrors<RootKeyFileError> = {
  maxSize: "1 KiB",
  missing: (path) => new RootKeyMissing(path),
  exists: (path) => new RootKeyExists(path),
  invalid: (path, reason) => new RootKeyInvalid(path, reason),
  insecure: (path, subject, sentence, fix) => new RootKeyInsecure(path, subject, sentence, fix),
  unreadable: (path, reason) => new RootKeyUnreadable(path, reason),
  unwritable: (path, reason) => new RootKeyUnwritable(path, reason),
  busy: (path) => new RootKeyUnwritable(path, "another command holds it"),
};

const KEYRING_FILE_ERRORS: StoreErrors<KeyringFileError> = {
  maxSize: "16 MiB",
  missing: (path) => new KeyringFileMissing(path),
  exists: (path) => new KeyringFileExists(path),
  invalid: (path, reason) => new KeyringFileInvalid(path, reason),
  insecure: (path, subject, sentence, fix) => new KeyringFileInsecure(path, subject, sentence, fix),
  unreadable: (path, reason) => new KeyringFileUnreadable(path, reason),
  unwritable: (path, reason) => new KeyringFileUnwritable(path, reason),
  busy: (path) => new KeyringFileBusy(path),
};

// ---------------------------------------------------------------------------------------------
// The root key

/** The root key, ready to wrap and unwrap; its raw bytes are not kept. */
export interface RootKey {
  readonly path: string;
  readonly cipher: XaesKey;
}

/** Reads the root key file: exactly 32 bytes, with the private file rules (owner, mode 0600, directory). */
export async function loadRootKey(path: string): Promise<RootKey> {
  const bytes = await asStoreErrors(ROOT_KEY_ERRORS, path, () => readPrivateFileBytes(path, ROOT_KEY_RULES));
  if (bytes.length !== ROOT_KEY_BYTES) {
    bytes.fill(0);
    throw new RootKeyInvalid(
      path,
      `it holds ${bytes.length} bytes where a root key is exactly ${ROOT_KEY_BYTES} (made with caas root-key init)`,
    );
  }
  const cipher = new XaesKey(bytes);
  bytes.fill(0);
  return { path, cipher };
}

/** Writes 32 fresh random bytes to `path`, mode 0600; refuses if `path` exists (no lock needed: link() creates only if absent). */
export async function initRootKey(path: string): Promise<void> {
  const bytes = new Uint8Array(randomBytes(ROOT_KEY_BYTES));
  try {
    const target = await asStoreErrors(ROOT_KEY_ERRORS, path, () => privateFileTarget(path));
    await asStoreErrors(ROOT_KEY_ERRORS, path, () => writePrivateFile(target, bytes, "create"));
  } finally {
    bytes.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------
// The keys in memory

function wrapAad(name: string, version: number): Uint8Array {
  return lengthPrefixed([WRAP_DOMAIN, encodeUtf8(name), uint32Bytes(version)]);
}

/** One version of a key: its cipher, built once (XaesKey's constructor does the per-key work), and its associated-data prefix. */
interface LiveVersion {
  readonly version: number;
  readonly cipher: XaesKey;
  /** "caas:v<version>:", the start of every ciphertext it makes. */
  readonly prefix: string;
  /** lengthPrefixed([domain, name, version]) without the caller's part, appended per call. */
  readonly aadHead: Uint8Array;
  /** The whole associated data when the caller gives none (most calls): made once, read by setAAD only. */
  readonly aadWithoutCallers: Uint8Array;
}

export interface SealedByKey {
  readonly ciphertext: string;
  readonly version: number;
}

export interface OpenedByKey {
  readonly plaintext: Uint8Array<ArrayBuffer>;
  readonly version: number;
}

/** What `keyring list` shows of a key, and what the server logs: never key material. */
export interface KeyringKeyInfo {
  readonly name: string;
  readonly created: string;
  readonly minDecryptionVersion: number;
  readonly versions: readonly { readonly version: number; readonly created: string }[];
}

function dataAad(live: LiveVersion, aad: Uint8Array | undefined): Uint8Array {
  // An absent and an empty aad frame alike (a zero length), so both take the one made once.
  if (aad === undefined || aad.length === 0) return live.aadWithoutCallers;
  return framedAad(live.aadHead, aad);
}

function framedAad(head: Uint8Array, caller: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + 4 + caller.length);
  out.set(head, 0);
  new DataView(out.buffer).setUint32(head.length, caller.length);
  out.set(caller, head.length + 4);
  return out;
}

/** Digits of a version as a ciphertext writes it: 1 to 10 of them, no leading zero. */
function parseVersion(text: string): number | undefined {
  if (text.length === 0 || text.length > 10 || text.charCodeAt(0) === 48) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const version = Number(text);
  return version <= MAX_KEY_VERSION ? version : undefined;
}

/** A ciphertext string taken apart, or InvalidCiphertext; nothing about the key is looked at yet. */
export function parseCiphertext(
  ciphertext: string,
  field = "ciphertext",
): { readonly version: number; readonly nonce: Uint8Array; readonly sealed: Uint8Array } {
  if (!ciphertext.startsWith(CIPHERTEXT_PREFIX)) throw new InvalidCiphertext(field);
  const colon = ciphertext.indexOf(":", CIPHERTEXT_PREFIX.length);
  if (colon < 0) throw new InvalidCiphertext(field);
  const version = parseVersion(ciphertext.slice(CIPHERTEXT_PREFIX.length, colon));
  if (version === undefined) throw new InvalidCiphertext(field);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(ciphertext.slice(colon + 1));
  } catch (error) {
    if (error instanceof EncodingError) throw new InvalidCiphertext(field);
    throw error;
  }
  if (bytes.length < MIN_SEALED_BYTES) throw new InvalidCiphertext(field);
  return { version, nonce: bytes.subarray(0, XAES_NONCE_BYTES), sealed: bytes.subarray(XAES_NONCE_BYTES) };
}

/** One named key of the keyring, with every version it still holds. Immutable: a reload builds new ones. */
export class KeyringKey {
  readonly name: string;
  readonly created: string;
  readonly minDecryptionVersion: number;
  readonly #versions: ReadonlyMap<number, LiveVersion>;
  readonly #newest: LiveVersion;
  readonly #oldest: number;
  readonly #info: KeyringKeyInfo;

  constructor(info: KeyringKeyInfo, ciphers: ReadonlyMap<number, XaesKey>) {
    this.name = info.name;
    this.created = info.created;
    this.minDecryptionVersion = info.minDecryptionVersion;
    this.#info = info;
    const nameBytes = encodeUtf8(info.name);
    const versions = new Map<number, LiveVersion>();
    for (const [version, cipher] of ciphers) {
      const aadHead = lengthPrefixed([DATA_DOMAIN, nameBytes, uint32Bytes(version)]);
      versions.set(version, {
        version,
        cipher,
        prefix: `${CIPHERTEXT_PREFIX}${version}:`,
        aadHead,
        aadWithoutCallers: framedAad(aadHead, new Uint8Array(0)),
      });
    }
    const numbers = [...versions.keys()].sort((a, b) => a - b);
    const newest = versions.get(numbers.at(-1) ?? 0);
    if (newest === undefined) throw new RangeError("a keyring key needs at least one version");
    this.#versions = versions;
    this.#newest = newest;
    this.#oldest = numbers[0] ?? newest.version;
  }

  /** The version that encrypts. */
  get newestVersion(): number {
    return this.#newest.version;
  }

  get info(): KeyringKeyInfo {
    return this.#info;
  }

  /** Seals under the newest version. */
  seal(plaintext: Uint8Array, aad?: Uint8Array): SealedByKey {
    const live = this.#newest;
    const nonce = randomXaesNonce();
    const sealed = live.cipher.seal(nonce, plaintext, dataAad(live, aad));
    const joined = new Uint8Array(nonce.length + sealed.length);
    joined.set(nonce, 0);
    joined.set(sealed, nonce.length);
    return { ciphertext: live.prefix + joined.toBase64(), version: live.version };
  }

  /**
   * The plaintext of a ciphertext this key made, or: InvalidCiphertext (not the format),
   * KeyVersionRetired (below the minimum decryption version, or trimmed), DecryptionFailed
   * (anything that does not authenticate, including a version this key never had).
   */
  open(ciphertext: string, aad?: Uint8Array, field = "ciphertext"): OpenedByKey {
    const parsed = parseCiphertext(ciphertext, field);
    if (parsed.version < this.minDecryptionVersion || parsed.version < this.#oldest) throw new KeyVersionRetired();
    const live = this.#versions.get(parsed.version);
    if (live === undefined) throw new DecryptionFailed();
    try {
      // XaesKey.open returns a fresh array over its own ArrayBuffer (new Uint8Array(buffer)).
      const plaintext = live.cipher.open(parsed.nonce, parsed.sealed, dataAad(live, aad)) as Uint8Array<ArrayBuffer>;
      return { plaintext, version: live.version };
    } catch (error) {
      if (error instanceof AuthenticationFailed) throw new DecryptionFailed();
      throw error;
    }
  }
}

/** What a route does with a keyring key: KeyringKey itself, or one whose uses are counted (observedKey). */
export type KeyringCipher = Pick<KeyringKey, "name" | "newestVersion" | "seal" | "open">;

/**
 * `key`, telling `observe` the version of each seal and open that succeeds, so the metrics can
 * say which versions are still in use before one is retired. Made per request, around the key
 * that request found, so a reload's new keys are observed without anyone re-registering them.
 */
export function observedKey(
  key: KeyringKey,
  observe: (keyName: string, version: number, operation: "encrypt" | "decrypt") => void,
): KeyringCipher {
  return {
    name: key.name,
    newestVersion: key.newestVersion,
    seal(plaintext, aad) {
      const sealed = key.seal(plaintext, aad);
      observe(key.name, sealed.version, "encrypt");
      return sealed;
    },
    open(ciphertext, aad, field) {
      const opened = key.open(ciphertext, aad, field);
      observe(key.name, opened.version, "decrypt");
      return opened;
    },
  };
}

/** Every key the server holds, by name; empty when no keyring is configured. */
export class Keyring {
  readonly #keys: ReadonlyMap<string, KeyringKey>;

  constructor(keys: readonly KeyringKey[]) {
    this.#keys = new Map(keys.map((key) => [key.name, key]));
  }

  static empty(): Keyring {
    return new Keyring([]);
  }

  get(name: string): KeyringKey | undefined {
    return this.#keys.get(name);
  }

  get names(): readonly string[] {
    return [...this.#keys.keys()];
  }

  get size(): number {
    return this.#keys.size;
  }
}

// ---------------------------------------------------------------------------------------------
// The file

const CREATED = Type.String({ minLength: 1, maxLength: 64 });
const KeyringFileSchema = Type.Object(
  {
    keys: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 64 }),
          created: CREATED,
          min_decryption_version: Type.Integer({ minimum: 1, maximum: MAX_KEY_VERSION }),
          versions: Type.Array(
            Type.Object(
              {
                version: Type.Integer({ minimum: 1, maximum: MAX_KEY_VERSION }),
                created: CREATED,
                // 24-byte nonce, 32-byte key, 16-byte tag: 72 bytes are 96 base64 characters, unpadded.
                key: Type.String({ pattern: "^[A-Za-z0-9+/]{96}$" }),
              },
              { additionalProperties: false },
            ),
            { minItems: 1, maxItems: 100_000 },
          ),
        },
        { additionalProperties: false },
      ),
      { maxItems: 10_000 },
    ),
  },
  { additionalProperties: false },
);
type KeyringFile = Static<typeof KeyringFileSchema>;
type StoredKey = KeyringFile["keys"][number];

/** Every check the server applies to the file's text, unwrapping included; also run on what a command is about to write. */
function parseKeyringFile(path: string, text: string, root: RootKey): { readonly file: KeyringFile; readonly keyring: Keyring } {
  if (Buffer.byteLength(text, "utf8") > KEYRING_FILE_RULES.maxBytes) throw new KeyringFileInvalid(path, "larger than 16 MiB");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KeyringFileInvalid(path, "not JSON");
  }
  if (!Value.Check(KeyringFileSchema, json)) {
    // Only where, never what: a value may be wrapped key material.
    const where = Value.Errors(KeyringFileSchema, json).First()?.path || "/";
    throw new KeyringFileInvalid(path, `unexpected, missing or malformed field at ${where}`);
  }
  const names = new Set<string>();
  const keys: KeyringKey[] = [];
  for (const stored of json.keys) {
    // The name was checked for length only, so it is not quoted unless it is a valid one.
    if (!isValidKeyName(stored.name)) throw new KeyringFileInvalid(path, "a key name is not 1 to 64 letters, digits, '.', '_' or '-'");
    if (names.has(stored.name)) throw new KeyringFileInvalid(path, `the name "${stored.name}" appears twice`);
    names.add(stored.name);
    if (Number.isNaN(Date.parse(stored.created))) throw new KeyringFileInvalid(path, `"${stored.name}" has no valid "created" date`);
    for (let i = 1; i < stored.versions.length; i++) {
      if (stored.versions[i]!.version !== stored.versions[i - 1]!.version + 1) {
        throw new KeyringFileInvalid(path, `"${stored.name}" has versions that are not consecutive and ascending`);
      }
    }
    const oldest = stored.versions[0]!.version;
    const newest = stored.versions.at(-1)!.version;
    if (stored.min_decryption_version < oldest || stored.min_decryption_version > newest) {
      throw new KeyringFileInvalid(path, `"${stored.name}" has a min_decryption_version outside its versions ${oldest}..${newest}`);
    }
    const ciphers = new Map<number, XaesKey>();
    for (const entry of stored.versions) {
      if (Number.isNaN(Date.parse(entry.created)))
        throw new KeyringFileInvalid(path, `"${stored.name}" version ${entry.version} has no valid "created" date`);
      const wrapped = fromBase64(`${entry.key}`);
      let material: Uint8Array;
      try {
        material = root.cipher.open(
          wrapped.subarray(0, XAES_NONCE_BYTES),
          wrapped.subarray(XAES_NONCE_BYTES),
          wrapAad(stored.name, entry.version),
        );
      } catch (error) {
        if (error instanceof AuthenticationFailed) throw new KeyringRootKeyMismatch(path, root.path);
        throw error;
      }
      ciphers.set(entry.version, new XaesKey(material));
      material.fill(0);
    }
    keys.push(
      new KeyringKey(
        {
          name: stored.name,
          created: stored.created,
          minDecryptionVersion: stored.min_decryption_version,
          versions: stored.versions.map((entry) => ({ version: entry.version, created: entry.created })),
        },
        ciphers,
      ),
    );
  }
  return { file: json, keyring: new Keyring(keys) };
}

/** Reads the keyring file and opens every version under the root key; a file that does not open is refused whole. */
export async function loadKeyring(path: string, root: RootKey): Promise<Keyring> {
  const text = await asStoreErrors(KEYRING_FILE_ERRORS, path, () => readPrivateFile(path, KEYRING_FILE_RULES));
  return parseKeyringFile(path, text, root).keyring;
}

async function readKeyringFile(path: string, root: RootKey, missingIsEmpty: boolean): Promise<KeyringFile> {
  let text: string;
  try {
    text = await asStoreErrors(KEYRING_FILE_ERRORS, path, () => readPrivateFile(path, KEYRING_FILE_RULES));
  } catch (error) {
    if (missingIsEmpty && error instanceof KeyringFileMissing) return { keys: [] };
    throw error;
  }
  return parseKeyringFile(path, text, root).file;
}

function serialize(file: KeyringFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Writes after reading the text back with the server's own checks (unwrapping every version), so no command leaves a file the server refuses. */
async function writeKeyringFile(
  path: string,
  target: string,
  file: KeyringFile,
  root: RootKey,
  how: "create" | "replace" = "replace",
): Promise<Keyring> {
  const text = serialize(file);
  let keyring: Keyring;
  try {
    keyring = parseKeyringFile(path, text, root).keyring;
  } catch (error) {
    if (error instanceof KeyringFileInvalid) throw new KeyringFileRefused(path, `the result would not load (${error.reason})`);
    throw error;
  }
  await asStoreErrors(KEYRING_FILE_ERRORS, path, () => writePrivateFile(target, text, how));
  return keyring;
}

/** A fresh random version, wrapped under the root key for this name and number. */
function newStoredVersion(root: RootKey, name: string, version: number, now = new Date()): StoredKey["versions"][number] {
  const material = new Uint8Array(randomBytes(KEYRING_KEY_BYTES));
  const nonce = randomXaesNonce();
  const sealed = root.cipher.seal(nonce, material, wrapAad(name, version));
  material.fill(0);
  const joined = new Uint8Array(nonce.length + sealed.length);
  joined.set(nonce, 0);
  joined.set(sealed, nonce.length);
  return { version, created: now.toISOString(), key: toBase64(joined) };
}

function checkName(name: string): void {
  if (!isValidKeyName(name)) {
    throw new InvalidKeyringArgument("a key name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
  }
}

/** A new keyring file's content: one key, version 1. */
export function newKeyWithOneVersion(root: RootKey, name: string, now = new Date()): StoredKey {
  return { name, created: now.toISOString(), min_decryption_version: 1, versions: [newStoredVersion(root, name, 1, now)] };
}

/** Runs `change` on the file under its lock, with the root key loaded, and writes what it returns. */
async function changeKeyring<T>(
  path: string,
  rootKeyPath: string,
  change: (file: KeyringFile, root: RootKey) => { readonly file: KeyringFile; readonly result: T },
  missingIsEmpty = false,
): Promise<T> {
  const root = await loadRootKey(rootKeyPath);
  return asStoreErrors(KEYRING_FILE_ERRORS, path, () =>
    withPrivateFileLock(path, async (target) => {
      const current = await readKeyringFile(path, root, missingIsEmpty);
      const { file, result } = change(current, root);
      await writeKeyringFile(path, target, file, root);
      return result;
    }),
  );
}

function findKey(path: string, file: KeyringFile, name: string): StoredKey {
  const key = file.keys.find((stored) => stored.name === name);
  if (key === undefined) throw new KeyringKeyNotFound(path, name);
  return key;
}

function replaceKey(file: KeyringFile, next: StoredKey): KeyringFile {
  return { keys: file.keys.map((stored) => (stored.name === next.name ? next : stored)) };
}

/** Adds key `name` with version 1; starts the file if it does not exist. */
export async function createKeyringKey(path: string, rootKeyPath: string, name: string): Promise<KeyringKeyInfo> {
  checkName(name);
  return changeKeyring(
    path,
    rootKeyPath,
    (file, root) => {
      if (file.keys.some((stored) => stored.name === name)) throw new KeyringKeyExists(path, name);
      const key = newKeyWithOneVersion(root, name);
      return { file: { keys: [...file.keys, key] }, result: infoOf(key) };
    },
    true,
  );
}

/** Adds version n+1 to key `name`; it becomes the version that encrypts. */
export async function rotateKeyringKey(path: string, rootKeyPath: string, name: string): Promise<KeyringKeyInfo> {
  checkName(name);
  return changeKeyring(path, rootKeyPath, (file, root) => {
    const key = findKey(path, file, name);
    const newest = key.versions.at(-1)!.version;
    if (newest >= MAX_KEY_VERSION)
      throw new KeyringFileRefused(path, `"${name}" already has version ${MAX_KEY_VERSION}, the highest a key can have`);
    const next: StoredKey = { ...key, versions: [...key.versions, newStoredVersion(root, name, newest + 1)] };
    return { file: replaceKey(file, next), result: infoOf(next) };
  });
}

/** Ciphertexts below `version` stop decrypting (a version at or below the newest, and not below a trimmed one). */
export async function setMinDecryptionVersion(path: string, rootKeyPath: string, name: string, version: number): Promise<KeyringKeyInfo> {
  checkName(name);
  checkVersionArgument(version, "--min-decryption-version");
  return changeKeyring(path, rootKeyPath, (file) => {
    const key = findKey(path, file, name);
    const oldest = key.versions[0]!.version;
    const newest = key.versions.at(-1)!.version;
    if (version > newest)
      throw new KeyringFileRefused(
        path,
        `"${name}" has no version ${version} (its newest is ${newest}); the minimum decryption version cannot pass the newest`,
      );
    if (version < oldest)
      throw new KeyringFileRefused(
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
  checkName(name);
  checkVersionArgument(below, "--below");
  return changeKeyring(path, rootKeyPath, (file) => {
    const key = findKey(path, file, name);
    if (below > key.min_decryption_version) {
      throw new KeyringFileRefused(
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
    throw new InvalidKeyringArgument(`${option} takes a version number from 1 to ${MAX_KEY_VERSION}`);
  }
}

function infoOf(key: StoredKey): KeyringKeyInfo {
  return {
    name: key.name,
    created: key.created,
    minDecryptionVersion: key.min_decryption_version,
    versions: key.versions.map((entry) => ({ version: entry.version, created: entry.created })),
  };
}

/** Every key's name, versions and dates, checked as the server would (the root key must open it). */
export async function listKeyring(path: string, rootKeyPath: string): Promise<readonly KeyringKeyInfo[]> {
  const root = await loadRootKey(rootKeyPath);
  const file = await readKeyringFile(path, root, false);
  return file.keys.map(infoOf);
}

/** Creates a keyring file holding one new key (for development mode); refuses if it exists. */
export async function createKeyringFile(path: string, root: RootKey, name: string): Promise<Keyring> {
  const target = await asStoreErrors(KEYRING_FILE_ERRORS, path, () => privateFileTarget(path));
  return writeKeyringFile(path, target, { keys: [newKeyWithOneVersion(root, name)] }, root, "create");
}
