/**
 * The keyring in memory: named keys the service holds and never hands out, each with numbered
 * versions, staged, active, decrypt-only or retired as key-versions.ts says. Built from the
 * file (keyring-file.ts) on every load; immutable after.
 *
 * A keyring ciphertext is one string, `caas:v<version>:<base64 of nonce ‖ ciphertext ‖ tag>`,
 * sealed with XAES-256-GCM (a random 192-bit nonce) under the key's active version,
 * authenticating the key's name, the version and the caller's aad together (length-prefixed,
 * see crypto/framing.ts).
 */
import { AuthenticationFailed } from "../crypto/aead.ts";
import { encodeUtf8 } from "../crypto/encoding.ts";
import { lengthPrefixed, uint32Bytes } from "../crypto/framing.ts";
import { XAES_NONCE_BYTES, XAES_TAG_BYTES, type XaesKey, randomXaesNonce } from "../crypto/xaes.ts";
import { DecryptionFailed, InvalidCiphertext, UnsupportedOperation } from "../errors.ts";
import type { VersionTimeline } from "./key-versions.ts";
import type { MacKey, SigningKey } from "./signing-keys.ts";
import { type KeyringKeyInfo, parseVersioned, VERSIONED_PREFIX, VersionBook } from "./versioned-key.ts";

export { MAX_KEY_VERSION, type KeyringKeyInfo, type KeyringVersionInfo } from "./versioned-key.ts";

export const KEYRING_KEY_BYTES = 32;

const DATA_DOMAIN = encodeUtf8("caas keyring data v1");
const CIPHERTEXT_PREFIX = VERSIONED_PREFIX;
/** Nonce, at least an empty plaintext's tag. */
const MIN_SEALED_BYTES = XAES_NONCE_BYTES + XAES_TAG_BYTES;

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

/** A ciphertext string taken apart, or InvalidCiphertext; nothing about the key is looked at yet. */
export function parseCiphertext(
  ciphertext: string,
  field = "ciphertext",
): { readonly version: number; readonly nonce: Uint8Array; readonly sealed: Uint8Array } {
  const parsed = parseVersioned(ciphertext);
  if (parsed === undefined || parsed.bytes.length < MIN_SEALED_BYTES) throw new InvalidCiphertext(field);
  return { version: parsed.version, nonce: parsed.bytes.subarray(0, XAES_NONCE_BYTES), sealed: parsed.bytes.subarray(XAES_NONCE_BYTES) };
}

/** One named encryption key of the keyring (xaes-256-gcm), with every version it still holds. Immutable: a reload builds new ones. */
export class KeyringKey {
  readonly type = "xaes-256-gcm";
  readonly publish = false;
  readonly name: string;
  readonly created: string;
  readonly minDecryptionVersion: number;
  readonly #book: VersionBook<LiveVersion>;
  readonly #info: KeyringKeyInfo;

  constructor(info: KeyringKeyInfo, ciphers: ReadonlyMap<number, XaesKey>, now: number = Date.now()) {
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
    this.#book = new VersionBook(info, versions, now);
  }

  get timeline(): VersionTimeline {
    return this.#book.timeline;
  }

  /** The version that encrypts now. */
  get activeVersion(): number {
    return this.#book.active().version;
  }

  /** The highest version held: a ciphertext naming one above it was made by a keyring this instance has not loaded. */
  get newestVersion(): number {
    return this.#book.newestVersion;
  }

  get info(): KeyringKeyInfo {
    return this.#info;
  }

  #active(): LiveVersion {
    return this.#book.active().value;
  }

  /** Seals under the active version. */
  seal(plaintext: Uint8Array, aad?: Uint8Array): SealedByKey {
    const live = this.#active();
    const nonce = randomXaesNonce();
    const sealed = live.cipher.seal(nonce, plaintext, dataAad(live, aad));
    const joined = new Uint8Array(nonce.length + sealed.length);
    joined.set(nonce, 0);
    joined.set(sealed, nonce.length);
    return { ciphertext: live.prefix + joined.toBase64(), version: live.version };
  }

  /**
   * The plaintext of a ciphertext this key made, or: InvalidCiphertext (not the format),
   * KeyVersionRetired (below the minimum decryption version, or trimmed), KeyVersionUnknown (a
   * version above any this instance holds: a newer keyring, not yet loaded here), DecryptionFailed
   * (anything that does not authenticate).
   */
  open(ciphertext: string, aad?: Uint8Array, field = "ciphertext"): OpenedByKey {
    const parsed = parseCiphertext(ciphertext, field);
    const live = this.#book.held(parsed.version);
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
export type KeyringCipher = Pick<KeyringKey, "name" | "activeVersion" | "seal" | "open">;

/** What observedKey reports each use to. */
type CipherUseReport = (keyName: string, version: number, operation: "encrypt" | "decrypt") => void;

/** A class rather than an object literal with a getter and closures: one is made per request. */
class ObservedKey implements KeyringCipher {
  readonly name: string;
  readonly #key: KeyringKey;
  readonly #observe: CipherUseReport;

  constructor(key: KeyringKey, observe: CipherUseReport) {
    this.name = key.name;
    this.#key = key;
    this.#observe = observe;
  }

  get activeVersion(): number {
    return this.#key.activeVersion;
  }

  seal(plaintext: Uint8Array, aad?: Uint8Array): SealedByKey {
    const sealed = this.#key.seal(plaintext, aad);
    this.#observe(this.name, sealed.version, "encrypt");
    return sealed;
  }

  open(ciphertext: string, aad?: Uint8Array, field?: string): OpenedByKey {
    const opened = this.#key.open(ciphertext, aad, field);
    this.#observe(this.name, opened.version, "decrypt");
    return opened;
  }
}

/**
 * `key`, telling `observe` the version of each seal and open that succeeds, so the metrics can
 * say which versions are still in use before one is retired. Made per request, around the key
 * that request found, so a reload's new keys are observed without anyone re-registering them.
 */
export function observedKey(key: KeyringKey, observe: CipherUseReport): KeyringCipher {
  return new ObservedKey(key, observe);
}

/** A key of the keyring, of whichever type. */
export type KeyringEntry = KeyringKey | MacKey | SigningKey;

/** `entry` as an encryption key, or 400 unsupported_operation (`what`: "encrypt", "decrypt", …) for a key of another type. */
export function cipherOf(entry: KeyringEntry, what: string): KeyringKey {
  if (entry instanceof KeyringKey) return entry;
  throw new UnsupportedOperation(entry.type, what);
}

/** Every key the server holds, by name; empty when no keyring is configured. */
export class Keyring {
  readonly #keys: ReadonlyMap<string, KeyringEntry>;

  constructor(keys: readonly KeyringEntry[]) {
    this.#keys = new Map(keys.map((key) => [key.name, key]));
  }

  static empty(): Keyring {
    return new Keyring([]);
  }

  get(name: string): KeyringEntry | undefined {
    return this.#keys.get(name);
  }

  get names(): readonly string[] {
    return [...this.#keys.keys()];
  }

  get size(): number {
    return this.#keys.size;
  }

  /** Every key, in the file's order. */
  get entries(): readonly KeyringEntry[] {
    return [...this.#keys.values()];
  }
}
