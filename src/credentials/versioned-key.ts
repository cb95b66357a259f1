/**
 * The version bookkeeping every keyring key shares, whatever its type: which version is active
 * now (through its VersionTimeline), which are held, and what a string naming a version it does
 * not hold means: retired (below the minimum decryption version, or trimmed) or unknown (above
 * any held: a keyring this instance has not loaded yet).
 *
 * Every string a keyring key makes names its version the same way, `caas:v<version>:<base64>`
 * (ciphertexts, signatures, MACs), so that one parser takes them apart.
 */
import { EncodingError, fromBase64 } from "../crypto/encoding.ts";
import { KeyVersionRetired, KeyVersionUnknown } from "../errors.ts";
import type { ActivationTime, VersionState } from "./key-versions.ts";
import { VersionTimeline } from "./key-versions.ts";
import type { KeyType } from "./key-types.ts";

/** The highest version a key can reach; also what a ciphertext's or signature's version may say. */
export const MAX_KEY_VERSION = 2 ** 31 - 1;

export const VERSIONED_PREFIX = "caas:v";

/** What `keyring list` shows of a version: never key material. */
export interface KeyringVersionInfo {
  readonly version: number;
  readonly created: string;
  /** When it becomes active (key-versions.ts); absent: active since it was written, as before staged versions. */
  readonly activatesAt?: ActivationTime;
}

/** What `keyring list` shows of a key, and what the server logs: never key material. */
export interface KeyringKeyInfo {
  readonly name: string;
  readonly created: string;
  readonly minDecryptionVersion: number;
  readonly versions: readonly KeyringVersionInfo[];
  /** Absent: xaes-256-gcm, as every key written before types existed. */
  readonly type?: KeyType;
  /** A signing key whose public versions the JWKS lists. */
  readonly publish?: boolean;
}

/** Digits of a version as a caas string writes it: 1 to 10 of them, no leading zero. */
export function parseVersion(text: string): number | undefined {
  if (text.length === 0 || text.length > 10 || text.charCodeAt(0) === 48) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const version = Number(text);
  return version <= MAX_KEY_VERSION ? version : undefined;
}

/** `caas:v<version>:<base64>` taken apart, or undefined when it is not that shape (canonical padded base64). */
export function parseVersioned(text: string): { readonly version: number; readonly bytes: Uint8Array<ArrayBuffer> } | undefined {
  if (!text.startsWith(VERSIONED_PREFIX)) return undefined;
  const colon = text.indexOf(":", VERSIONED_PREFIX.length);
  if (colon < 0) return undefined;
  const version = parseVersion(text.slice(VERSIONED_PREFIX.length, colon));
  if (version === undefined) return undefined;
  try {
    return { version, bytes: fromBase64(text.slice(colon + 1)) };
  } catch (error) {
    if (error instanceof EncodingError) return undefined;
    throw error;
  }
}

/** One version held, with whatever the key's type keeps of it (a cipher, a MAC key, a key pair). */
export interface HeldVersion<V> {
  readonly version: number;
  readonly value: V;
}

/** A version that verifies (or decrypts) at some moment, and its state then. */
export interface LiveVersionState<V> extends HeldVersion<V> {
  readonly state: Exclude<VersionState, "retired">;
}

/**
 * The versions of one key, with the timeline that says which is active. Immutable: a reload
 * builds new ones.
 */
export class VersionBook<V> {
  readonly minDecryptionVersion: number;
  readonly timeline: VersionTimeline;
  readonly #versions: ReadonlyMap<number, V>;
  readonly #newest: number;
  readonly #oldest: number;
  /** Active when the key was built; kept only for a clock set back before every activation. */
  readonly #firstActive: HeldVersion<V>;
  /** The answer active() gave last: every seal asks, and the active version changes only at a rotation's activation time. */
  #lastActive: HeldVersion<V>;

  constructor(info: KeyringKeyInfo, versions: ReadonlyMap<number, V>, now: number = Date.now()) {
    this.minDecryptionVersion = info.minDecryptionVersion;
    const numbers = [...versions.keys()].sort((a, b) => a - b);
    if (numbers.length === 0) throw new RangeError("a keyring key needs at least one version");
    this.#versions = versions;
    this.#newest = numbers.at(-1) ?? 0;
    this.#oldest = numbers[0] ?? 0;
    const activation = new Map(info.versions.map((entry) => [entry.version, entry.activatesAt ?? Number.NEGATIVE_INFINITY]));
    this.timeline = new VersionTimeline(
      numbers.map((version) => ({
        version,
        activatesAt: activation.get(version) ?? Number.NEGATIVE_INFINITY,
        retired: version < info.minDecryptionVersion,
      })),
    );
    const firstVersion = this.timeline.activeAt(now) ?? 0;
    const first = versions.get(firstVersion);
    if (first === undefined) throw new RangeError("a keyring key needs a version active now (not retired, not staged)");
    this.#firstActive = { version: firstVersion, value: first };
    this.#lastActive = this.#firstActive;
  }

  /** The version that makes ciphertexts, signatures and MACs now. */
  active(now: number = Date.now()): HeldVersion<V> {
    const version = this.timeline.activeAt(now);
    const value = version === undefined ? undefined : this.#versions.get(version);
    if (value === undefined || version === undefined) return this.#firstActive;
    if (version !== this.#lastActive.version) this.#lastActive = { version, value };
    return this.#lastActive;
  }

  /** The highest version held: a string naming one above it was made by a keyring this instance has not loaded. */
  get newestVersion(): number {
    return this.#newest;
  }

  /**
   * The version a caas string names, or KeyVersionRetired (below the minimum decryption version,
   * or trimmed), KeyVersionUnknown (above any held).
   */
  held(version: number): V {
    if (version < this.minDecryptionVersion || version < this.#oldest) throw new KeyVersionRetired(version);
    if (version > this.#newest) throw new KeyVersionUnknown(version);
    const value = this.#versions.get(version);
    // Versions are consecutive (the file's rule), so a number in range is held.
    if (value === undefined) throw new KeyVersionRetired(version);
    return value;
  }

  /** Every version not retired at `now`, oldest first, with its state: what verifies and decrypts. */
  live(now: number = Date.now()): readonly LiveVersionState<V>[] {
    const out: LiveVersionState<V>[] = [];
    for (const [version, value] of [...this.#versions].sort((a, b) => a[0] - b[0])) {
      const state = this.timeline.stateOf(version, now);
      if (state === undefined || state === "retired") continue;
      out.push({ version, value, state });
    }
    return out;
  }
}
