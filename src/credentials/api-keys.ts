/**
 * API keys at run time: the immutable store the server looks presented keys up in, swapped
 * whole on reload. The file they come from is keys-file.ts; what a key may do is scopes.ts; the
 * commands that change the file are key-changes.ts.
 *
 * Only SHA-256 of each key is kept. A fast hash is enough because generated keys carry 256
 * random bits (imported standard ones at least 16 characters; compat ones guard nothing secret,
 * see IMPORTED_COMPAT_KEY_MIN_LENGTH): there is no dictionary to run a slow
 * hash against, and a per-request password hash would only hand attackers a CPU lever.
 */

import { randomBytes } from "node:crypto";
import { EncodingError, encodeUtf8, fromHex, toHex } from "../crypto/encoding.ts";
import { digest, sha256TextHex } from "../crypto/hash.ts";
import { type ApiKeyProfile, DEFAULT_PROFILE, parseKeysFile, readKeysText } from "./keys-file.ts";
import { allowsFeature, allowsKeyring, DEFAULT_SCOPES, type KeyringPermission, parseScopes, type Scope } from "./scopes.ts";

// Routes read a caller's profile and scopes through its record; they need not know the file.
export type { ApiKeyProfile } from "./keys-file.ts";
export type { KeyringOperation, KeyringPermission } from "./scopes.ts";

export const API_KEY_PREFIX = "caas_";
const API_KEY_RANDOM_BYTES = 32;
export const PRESENTED_KEY_MAX_LENGTH = 512;

/** What a lookup answers and `keys list` shows: never the key, never its hash. */
export interface ApiKeyRecord {
  readonly name: string;
  readonly profile: ApiKeyProfile;
  readonly created: string;
  /** What the key may do; a key stored without scopes has DEFAULT_SCOPES. */
  readonly scopes: readonly Scope[];
}

/** Whether the key may use `feature` ("pseudonym" or "oracle"). */
export function permits(record: ApiKeyRecord, feature: "pseudonym" | "oracle"): boolean {
  return allowsFeature(record.scopes, feature);
}

/** Whether the key may do `permission` on keyring key `keyName` (see allowsKeyring). */
export function permitsKeyring(record: ApiKeyRecord, keyName: string, permission: KeyringPermission): boolean {
  return allowsKeyring(record.scopes, keyName, permission);
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
export function apiKeyHashHex(key: string): string {
  return sha256TextHex(key);
}

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
          scopes: parseScopes(stored.scopes ?? DEFAULT_SCOPES),
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
        record: Object.freeze({ name, profile, created, scopes: parseScopes(scopes) }),
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
