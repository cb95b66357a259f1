/**
 * Per-user pseudonyms. The construction, for the README:
 * 1. Pick: HMAC-SHA256 under a key derived from the server secret, of the canonical UUID, drawn by rejection sampling into the 10 algorithms x 16 salts, so each user's algorithm and salt are uniform, stable for a given secret and unpredictable without it.
 * 2. Key: HKDF-SHA256(secret, salt = the picked pool salt, info = algorithm and UUID) as long as the algorithm's output, so every user has an independent key and no salt or key is ever in source.
 * 3. Digest: HMAC-<picked algorithm>(user key, UTF-8 data) in lowercase hex, so a leaked digest and UUID cannot be dictionary-attacked without the secret; the pool holds only hashes of 256 bits or more.
 *
 * Everything here is a pure function of (secret version, UUID, data): no RNG, no shared mutable
 * state that an answer depends on, so concurrent requests, restarts and instances sharing the
 * secret all agree. The only state is a bounded memo of step 1 and 2 per secret version
 * (PseudonymMemo), which changes how fast an answer comes, never what it is.
 */

import { EncodingError, encodeUtf8, fromHex, toHex } from "../../../crypto/encoding.ts";
import {
  constantTimeEqual,
  DIGEST_BYTES,
  findConstantTime,
  keyedHmac,
  type KeyedHmac,
  POOL_ALGORITHMS,
  type PoolAlgorithm,
} from "../../../crypto/hash.ts";
import { deriveSaltPool, deriveSelectionKey, deriveUserKey, type PoolSalt } from "../../../crypto/kdf.ts";
import { fixedDefault } from "../../../config.ts";
import { InvalidText, InvalidUuid, SecretVersionRetired, SecretVersionUnknown } from "../../../errors.ts";
import type { SecretRing, SecretVersion } from "../../../credentials/secret-ring.ts";

/**
 * RFC 9562's string form, any version or variant (nil and max included): the main server's
 * ids come from whatever generator it uses, and the pseudonym only needs them to be stable.
 * No braces, no "urn:uuid:", no surrounding space: one user, one spelling, after lower-casing.
 */
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function canonicalUserId(text: string): string {
  if (typeof text !== "string" || !uuidPattern.test(text)) throw new InvalidUuid();
  return text.toLowerCase();
}

export interface Selection {
  readonly algorithm: PoolAlgorithm;
  readonly salt: PoolSalt;
}

interface UserMaterial extends Selection {
  /** HMAC-<algorithm> under the user's derived key, the key already absorbed. */
  readonly mac: KeyedHmac;
}

/** A user's material in the memo, and whether it was used since eviction last passed it over. */
interface HeldUser {
  readonly material: UserMaterial;
  used: boolean;
}

interface VersionMaterial {
  readonly saltPool: readonly PoolSalt[];
  /** HMAC-SHA256 under the selection key, the key already absorbed. */
  readonly selectionMac: KeyedHmac;
  readonly users: Map<string, HeldUser>;
}

/**
 * Per secret version, the most recently used users' material: their pick and their keyed HMAC
 * state. A returning user then costs one HMAC; a new one also a PRF call, an HKDF and a keying
 * (about four times as much: bench/micro.ts). It only memoizes a pure function, so it can change
 * how fast an answer comes, never what it is; the bound (CAAS_PSEUDONYM_CACHE_USERS, about
 * 1.2 KB a user) caps the memory an attacker cycling through UUIDs can take. Keyed by the
 * version object: a reloaded ring gets fresh entries and the old ones go with the old ring.
 */
export class PseudonymMemo {
  readonly #byVersion = new WeakMap<SecretVersion, VersionMaterial>();

  constructor(readonly usersPerVersion: number) {
    if (!Number.isInteger(usersPerVersion) || usersPerVersion < 1) throw new RangeError("usersPerVersion must be a whole number ≥ 1");
  }

  /** How many users' material is held for this version now. */
  usersHeld(version: SecretVersion): number {
    return this.#byVersion.get(version)?.users.size ?? 0;
  }

  /** Whether this user's material is held for this version now. */
  holdsUser(version: SecretVersion, userId: string): boolean {
    return this.#byVersion.get(version)?.users.has(canonicalUserId(userId)) ?? false;
  }

  materialFor(version: SecretVersion): VersionMaterial {
    let material = this.#byVersion.get(version);
    if (material === undefined) {
      const selectionKey = deriveSelectionKey(version.secret);
      material = { saltPool: deriveSaltPool(version.secret), selectionMac: keyedHmac("sha256", selectionKey), users: new Map() };
      selectionKey.fill(0);
      this.#byVersion.set(version, material);
    }
    return material;
  }
}

/** The memo of callers that bring none (tests, the CLI), as large as the server's by default; the server makes its own from its settings. */
const sharedMemo = new PseudonymMemo(fixedDefault("pseudonymCacheUsers"));

const TWO_TO_32 = 2 ** 32;

/**
 * A uniform index in [0, n) from the keyed PRF: 32-bit words of HMAC-SHA256(key, counter || id),
 * each rejected when it falls in the last, incomplete run of n values, so there is no modulo
 * bias. For n = 160 a word is rejected with probability 2^-25.4; the counter only matters then.
 */
function uniformIndex(mac: KeyedHmac, canonicalId: string, n: number): number {
  const limit = TWO_TO_32 - (TWO_TO_32 % n);
  const id = encodeUtf8(canonicalId);
  const message = new Uint8Array(4 + id.length);
  message.set(id, 4);
  for (let counter = 0; ; counter++) {
    // The counter, big-endian, in the first four bytes.
    message[0] = counter >>> 24;
    message[1] = (counter >>> 16) & 0xff;
    message[2] = (counter >>> 8) & 0xff;
    message[3] = counter & 0xff;
    const block = mac(message);
    for (let offset = 0; offset + 4 <= block.length; offset += 4) {
      const word = ((block[offset]! << 24) | (block[offset + 1]! << 16) | (block[offset + 2]! << 8) | block[offset + 3]!) >>> 0;
      if (word < limit) return word % n;
    }
  }
}

function selectWith(material: VersionMaterial, canonicalId: string): Selection {
  const n = POOL_ALGORITHMS.length * material.saltPool.length;
  const index = uniformIndex(material.selectionMac, canonicalId, n);
  const algorithm = POOL_ALGORITHMS[index % POOL_ALGORITHMS.length];
  const salt = material.saltPool[Math.floor(index / POOL_ALGORITHMS.length)];
  if (algorithm === undefined || salt === undefined) throw new Error("pool index out of range");
  return { algorithm, salt };
}

/** The algorithm and salt a user gets under one secret version (recomputed, not memoized per user). */
export function selectFor(version: SecretVersion, userId: string, memo: PseudonymMemo = sharedMemo): Selection {
  return selectWith(memo.materialFor(version), canonicalUserId(userId));
}

/**
 * Eviction is CLOCK (second chance), not strict LRU: a hit only sets a flag, and eviction moves a
 * flagged user to the back once instead of dropping it. Moving every hit to the back of the Map
 * (delete, then set) was strict LRU, but JavaScriptCore's Map compacts itself under that churn:
 * with 10,000 users held, one returning user cost 36 µs a call instead of 1.9 µs.
 */
function userMaterial(memo: PseudonymMemo, version: SecretVersion, canonicalId: string): UserMaterial {
  const material = memo.materialFor(version);
  const held = material.users.get(canonicalId);
  if (held !== undefined) {
    held.used = true;
    return held.material;
  }
  const { algorithm, salt } = selectWith(material, canonicalId);
  const key = deriveUserKey(version.secret, salt, { algorithm: algorithm, userId: canonicalId, length: DIGEST_BYTES[algorithm] });
  const fresh: UserMaterial = Object.freeze({ algorithm, salt, mac: keyedHmac(algorithm, key) });
  material.users.set(canonicalId, { material: fresh, used: false });
  // Each pass clears one flag or drops one user, so this ends within twice the bound's steps.
  while (material.users.size > memo.usersPerVersion) {
    const oldest = material.users.entries().next();
    if (oldest.done === true) break;
    const [id, user] = oldest.value;
    material.users.delete(id);
    if (user.used && id !== canonicalId) {
      user.used = false;
      material.users.set(id, user);
    }
  }
  return fresh;
}

function dataBytes(data: string): Uint8Array {
  try {
    return encodeUtf8(data);
  } catch (error) {
    if (error instanceof EncodingError) throw new InvalidText("sensitiveData");
    throw error;
  }
}

function digestUnder(memo: PseudonymMemo, version: SecretVersion, canonicalId: string, data: Uint8Array): Uint8Array {
  return userMaterial(memo, version, canonicalId).mac(data);
}

export interface Pseudonym {
  /** Lowercase hex, 64, 96 or 128 characters depending on the user's algorithm. */
  readonly digest: string;
  /** The secret version it was made under. */
  readonly version: number;
}

/** The pseudonym of `data` for this user, under the active secret version. */
export function pseudonymFor(ring: SecretRing, userId: string, data: string, memo: PseudonymMemo = sharedMemo): Pseudonym {
  const canonicalId = canonicalUserId(userId);
  const active = ring.active();
  const digest = digestUnder(memo, active, canonicalId, dataBytes(data));
  return { digest: toHex(digest), version: active.version };
}

/**
 * The versions a /verify compares against: all that verify, or the one the caller names. A named
 * version this ring does not hold may be held by another instance (or by this one after its next
 * reload), so it is SecretVersionUnknown, never a `false` that cannot be known.
 */
function versionsToCompare(ring: SecretRing, version: number | undefined): readonly SecretVersion[] {
  if (version === undefined) return ring.verifying;
  const held = ring.held(version);
  if (held === undefined) throw new SecretVersionUnknown();
  if (held.retired !== undefined) throw new SecretVersionRetired();
  return [held];
}

const hexDigest = /^(?:[0-9a-f]{2})+$/;

/** What /verify asks: whether `digestHex` is `userId`'s pseudonym of `data` (under `version` alone, when given). */
export interface PseudonymClaim {
  readonly userId: string;
  readonly data: string;
  readonly digestHex: string;
  readonly version?: number | undefined;
}

/**
 * Whether `digestHex` is this user's pseudonym of `data` under any secret version not retired
 * (staged ones included), or under `version` alone when it is given.
 * Every such version's digest is computed and compared, whatever matched first, so the answer's timing
 * says neither which version matched nor where the digests differ. Hex is accepted in either
 * case; anything that is not hex simply matches nothing.
 */
export function verifyPseudonym(
  ring: SecretRing,
  { userId, data, digestHex, version }: PseudonymClaim,
  memo: PseudonymMemo = sharedMemo,
): boolean {
  const canonicalId = canonicalUserId(userId);
  const bytes = dataBytes(data);
  const compared = versionsToCompare(ring, version);
  const lower = typeof digestHex === "string" ? digestHex.toLowerCase() : "";
  const presented = hexDigest.test(lower) ? fromHex(lower) : new Uint8Array(0);
  const expected = compared.map((entry) => digestUnder(memo, entry, canonicalId, bytes));
  return findConstantTime(expected, presented, constantTimeEqual) >= 0;
}
