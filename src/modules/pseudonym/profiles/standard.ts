/**
 * Per-user pseudonyms. The construction, for the README:
 * 1. Pick: HMAC-SHA256 under a key derived from the server secret, of the canonical UUID, drawn by rejection sampling into the 10 algorithms x 16 salts, so each user's algorithm and salt are uniform, stable for a given secret and unpredictable without it.
 * 2. Key: HKDF-SHA256(secret, salt = the picked pool salt, info = algorithm and UUID) as long as the algorithm's output, so every user has an independent key and no salt or key is ever in source.
 * 3. Digest: HMAC-<picked algorithm>(user key, UTF-8 data) in lowercase hex, so a leaked digest and UUID cannot be dictionary-attacked without the secret; the pool holds only hashes of 256 bits or more.
 *
 * Everything here is a pure function of (secret version, UUID, data): no RNG, no shared mutable
 * state that an answer depends on, so concurrent requests, restarts and instances sharing the
 * secret all agree. The only state is a bounded memo of step 1 and 2 per secret version.
 */

import { EncodingError, encodeUtf8, fromHex, toHex } from "../../../crypto/encoding.ts";
import {
  constantTimeEqual,
  DIGEST_BYTES,
  findConstantTime,
  hmac,
  keyedHmac,
  type KeyedHmac,
  POOL_ALGORITHMS,
  type PoolAlgorithm,
} from "../../../crypto/hash.ts";
import { deriveSaltPool, deriveSelectionKey, deriveUserKey, type PoolSalt } from "../../../crypto/kdf.ts";
import { InvalidText, InvalidUuid } from "../../../errors.ts";
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

interface VersionMaterial {
  readonly saltPool: readonly PoolSalt[];
  readonly selectionKey: Uint8Array;
  readonly users: Map<string, UserMaterial>;
}

/**
 * Per version, the most recently used users' material. It only memoizes a pure function, so it
 * can change how fast an answer comes, never what it is; the cap bounds the memory an attacker
 * cycling through UUIDs can take. Keyed by the version object: a reloaded ring gets fresh
 * entries and the old ones go with the old ring.
 */
const USERS_PER_VERSION = 1024;
const versionMaterial = new WeakMap<SecretVersion, VersionMaterial>();

function materialFor(version: SecretVersion): VersionMaterial {
  let material = versionMaterial.get(version);
  if (material === undefined) {
    material = {
      saltPool: deriveSaltPool(version.secret),
      selectionKey: deriveSelectionKey(version.secret),
      users: new Map(),
    };
    versionMaterial.set(version, material);
  }
  return material;
}

const TWO_TO_32 = 2 ** 32;

/**
 * A uniform index in [0, n) from the keyed PRF: 32-bit words of HMAC-SHA256(key, counter || id),
 * each rejected when it falls in the last, incomplete run of n values, so there is no modulo
 * bias. For n = 160 a word is rejected with probability 2^-25.4; the counter only matters then.
 */
function uniformIndex(key: Uint8Array, canonicalId: string, n: number): number {
  const limit = TWO_TO_32 - (TWO_TO_32 % n);
  const id = encodeUtf8(canonicalId);
  const message = new Uint8Array(4 + id.length);
  message.set(id, 4);
  const view = new DataView(message.buffer);
  for (let counter = 0; ; counter++) {
    view.setUint32(0, counter);
    const block = hmac("sha256", key, message);
    const words = new DataView(block.buffer, block.byteOffset, block.byteLength);
    for (let offset = 0; offset + 4 <= block.length; offset += 4) {
      const word = words.getUint32(offset);
      if (word < limit) return word % n;
    }
  }
}

function selectWith(material: VersionMaterial, canonicalId: string): Selection {
  const n = POOL_ALGORITHMS.length * material.saltPool.length;
  const index = uniformIndex(material.selectionKey, canonicalId, n);
  const algorithm = POOL_ALGORITHMS[index % POOL_ALGORITHMS.length];
  const salt = material.saltPool[Math.floor(index / POOL_ALGORITHMS.length)];
  if (algorithm === undefined || salt === undefined) throw new Error("pool index out of range");
  return { algorithm, salt };
}

/** The algorithm and salt a user gets under one secret version (recomputed, not memoized per user). */
export function selectFor(version: SecretVersion, userId: string): Selection {
  return selectWith(materialFor(version), canonicalUserId(userId));
}

function userMaterial(version: SecretVersion, canonicalId: string): UserMaterial {
  const material = materialFor(version);
  const cached = material.users.get(canonicalId);
  if (cached !== undefined) {
    // Re-insert so Map order is least-recently-used first.
    material.users.delete(canonicalId);
    material.users.set(canonicalId, cached);
    return cached;
  }
  const { algorithm, salt } = selectWith(material, canonicalId);
  const key = deriveUserKey(version.secret, salt, algorithm, canonicalId, DIGEST_BYTES[algorithm]);
  const fresh: UserMaterial = Object.freeze({ algorithm, salt, mac: keyedHmac(algorithm, key) });
  material.users.set(canonicalId, fresh);
  if (material.users.size > USERS_PER_VERSION) {
    const oldest = material.users.keys().next();
    if (oldest.done !== true) material.users.delete(oldest.value);
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

function digestUnder(version: SecretVersion, canonicalId: string, data: Uint8Array): Uint8Array {
  return userMaterial(version, canonicalId).mac(data);
}

export interface Pseudonym {
  /** Lowercase hex, 64, 96 or 128 characters depending on the user's algorithm. */
  readonly digest: string;
  /** The secret version it was made under. */
  readonly version: number;
}

/** The pseudonym of `data` for this user, under the newest secret version. */
export function pseudonymFor(ring: SecretRing, userId: string, data: string): Pseudonym {
  const canonicalId = canonicalUserId(userId);
  const digest = digestUnder(ring.newest, canonicalId, dataBytes(data));
  return { digest: toHex(digest), version: ring.newest.version };
}

const hexDigest = /^(?:[0-9a-f]{2})+$/;

/**
 * Whether `digestHex` is this user's pseudonym of `data` under any secret version. Every
 * version's digest is computed and compared, whatever matched first, so the answer's timing
 * says neither which version matched nor where the digests differ. Hex is accepted in either
 * case; anything that is not hex simply matches nothing.
 */
export function verifyPseudonym(ring: SecretRing, userId: string, data: string, digestHex: string): boolean {
  const canonicalId = canonicalUserId(userId);
  const bytes = dataBytes(data);
  const lower = typeof digestHex === "string" ? digestHex.toLowerCase() : "";
  const presented = hexDigest.test(lower) ? fromHex(lower) : new Uint8Array(0);
  const expected = ring.versions.map((version) => digestUnder(version, canonicalId, bytes));
  return findConstantTime(expected, presented, constantTimeEqual) >= 0;
}
