/**
 * Key derivation for the pseudonym service: every value below is HKDF-SHA256 (RFC 5869) of the
 * server secret, each under its own `info` label, so the salt pool, the selection key and the
 * per-user keys are independent of one another and none of them is ever written in source.
 *
 * node:crypto's hkdfSync rather than Web Crypto's deriveBits: it is synchronous, so a pseudonym
 * is computed in one uninterrupted run with no await in the middle, and it needs no CryptoKey
 * import per call. Bun implements it over BoringSSL; the tests check it against RFC 5869's
 * vectors and against @noble/hashes.
 */

import { hkdfSync } from "node:crypto";
import { encodeUtf8 } from "./encoding.ts";

/** SHA-256's output length; HKDF-SHA256 can expand to 255 times this. */
const HKDF_SHA256_MAX_BYTES = 255 * 32;

/** HKDF-SHA256 (extract then expand) of `ikm` to `length` bytes. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > HKDF_SHA256_MAX_BYTES) {
    throw new RangeError("HKDF-SHA256 output length must be 1 to 8160 bytes");
  }
  return new Uint8Array(hkdfSync("sha256", ikm, salt, info, length));
}

/**
 * The salt pool keeps the Django original's lengths, in characters. Its salts are base64url
 * text, 6 bits per character, so each length maps to a whole number of derived bytes.
 */
export const SALT_LENGTHS = [8, 16, 32, 64] as const;
export type SaltLength = (typeof SALT_LENGTHS)[number];
export const SALTS_PER_LENGTH = 4;

export interface PoolSalt {
  readonly length: SaltLength;
  readonly text: string;
}

/*
 * Domain-separation labels. Changing any of them changes every pseudonym ever issued, so they
 * carry a version ("v1") that a future construction would bump rather than edit.
 */
const SALT_POOL_INFO = encodeUtf8("caas/pseudonym/v1/salt-pool");
const SELECTION_INFO = encodeUtf8("caas/pseudonym/v1/selection-key");
const USER_KEY_INFO = "caas/pseudonym/v1/user-key";
const NO_SALT = new Uint8Array(0);

/** 4 lengths x 4 salts = 16 salts, in a fixed order: all of length 8 first, then 16, 32, 64. */
export function deriveSaltPool(secret: Uint8Array): readonly PoolSalt[] {
  const bytesFor = (length: SaltLength): number => (length * 3) / 4;
  const total = SALT_LENGTHS.reduce((sum, length) => sum + bytesFor(length) * SALTS_PER_LENGTH, 0);
  const stream = hkdfSha256(secret, NO_SALT, SALT_POOL_INFO, total);
  const pool: PoolSalt[] = [];
  let offset = 0;
  for (const length of SALT_LENGTHS) {
    for (let i = 0; i < SALTS_PER_LENGTH; i++) {
      const bytes = stream.subarray(offset, offset + bytesFor(length));
      offset += bytes.length;
      pool.push(Object.freeze({ length, text: bytes.toBase64({ alphabet: "base64url", omitPadding: true }) }));
    }
  }
  stream.fill(0);
  return Object.freeze(pool);
}

/** The key of the PRF that picks each user's algorithm and salt. */
export function deriveSelectionKey(secret: Uint8Array): Uint8Array {
  return hkdfSha256(secret, NO_SALT, SELECTION_INFO, 32);
}

/** Whose key deriveUserKey makes: the pool algorithm, the canonical user id, and the key's length in bytes. */
export interface UserKeyLabel {
  readonly algorithm: string;
  readonly userId: string;
  readonly length: number;
}

/**
 * A user's HMAC key: HKDF with the chosen pool salt as HKDF's salt and the algorithm and
 * canonical user id in `info`. NUL separates the parts; none of them can contain one.
 * `length` should be the HMAC's output length: RFC 2104 advises against keys shorter than that.
 */
export function deriveUserKey(
  secret: Uint8Array,
  salt: PoolSalt,
  { algorithm, userId: canonicalUserId, length }: UserKeyLabel,
): Uint8Array {
  if (algorithm.includes("\0") || canonicalUserId.includes("\0")) throw new RangeError("NUL in a key-derivation label");
  const info = encodeUtf8(`${USER_KEY_INFO}\0${algorithm}\0${canonicalUserId}`);
  return hkdfSha256(secret, encodeUtf8(salt.text), info, length);
}
