/**
 * The pseudonym service's hash pool and HMAC over it, as small pure functions over Uint8Array,
 * plus the one constant-time comparison every secret-dependent check in caas goes through.
 *
 * Every algorithm in the pool is a strong one (no md5, SHA-1, RIPEMD-160 or MD4: those belong to
 * the Django-compat profile only) and every one yields at least 256 bits, so no pseudonym is ever
 * a 128- or 160-bit value.
 */

import { timingSafeEqual } from "node:crypto";
import { EncodingError } from "./encoding.ts";

export const POOL_ALGORITHMS = [
  "sha256",
  "sha384",
  "sha512",
  "sha512-256",
  "sha3-256",
  "sha3-384",
  "sha3-512",
  "blake2b256",
  "blake2b512",
  "blake2s256",
] as const;

export type PoolAlgorithm = (typeof POOL_ALGORITHMS)[number];

/** Output length in bytes of each pool algorithm; HMAC output has the same length. */
export const DIGEST_BYTES: Readonly<Record<PoolAlgorithm, number>> = {
  sha256: 32,
  sha384: 48,
  sha512: 64,
  "sha512-256": 32,
  "sha3-256": 32,
  "sha3-384": 48,
  "sha3-512": 64,
  blake2b256: 32,
  blake2b512: 64,
  blake2s256: 32,
};

const poolAlgorithms: ReadonlySet<string> = new Set(POOL_ALGORITHMS);

export function isPoolAlgorithm(name: string): name is PoolAlgorithm {
  return poolAlgorithms.has(name);
}

/** A plain hash of `data`, for KATs and for fingerprints of high-entropy values (API keys). */
export function digest(algorithm: PoolAlgorithm, data: Uint8Array): Uint8Array {
  return plainBytes(new Bun.CryptoHasher(algorithm).update(data).digest());
}

/** digest() in lowercase hex, straight from the hasher: no byte copy, no second pass to encode it. */
export function digestHex(algorithm: PoolAlgorithm, data: Uint8Array): string {
  return new Bun.CryptoHasher(algorithm).update(data).digest("hex");
}

/**
 * SHA-256 of `text`'s UTF-8 bytes in lowercase hex, in one native call: Bun.SHA256.hash encodes
 * the string itself, with no TextEncoder array and no hasher object per call (a third of what
 * digestHex over encodeUtf8 costs; bench/micro.ts). What every keyed request pays once, for its
 * API key. A lone surrogate has no UTF-8 form and is refused, never replaced by U+FFFD.
 */
export function sha256TextHex(text: string): string {
  if (!text.isWellFormed()) throw new EncodingError("text");
  return Bun.SHA256.hash(text, "hex");
}

/**
 * CryptoHasher answers with a Buffer; callers get a plain Uint8Array, as everywhere in crypto/.
 * (Its digest(into) form is no way around the copy: Bun 1.4.5 wants 64 bytes of room there
 * whatever the output length.)
 */
function plainBytes(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer);
}

/** HMAC under one key, as a function of the data alone (see keyedHmac). */
export type KeyedHmac = (data: Uint8Array) => Uint8Array;

/**
 * HMAC (RFC 2104) under `key`, with the key absorbed once: each call copies the keyed state and
 * hashes only the data, about 2.4 times cheaper than keying afresh (bench/micro.ts). Bun's
 * CryptoHasher does the work for every algorithm except blake2s256, whose keyed mode Bun 1.4.5
 * refuses ("HMAC is not supported for this algorithm yet"); that one is built from plain
 * BLAKE2s states below.
 */
export function keyedHmac(algorithm: PoolAlgorithm, key: Uint8Array): KeyedHmac {
  // A compile-time type is no guard against a value that came through JSON or a cast.
  if (!poolAlgorithms.has(algorithm)) throw new RangeError("not a pool algorithm");
  if (algorithm === "blake2s256") return keyedHmacBlake2s256(key);
  const keyed = new Bun.CryptoHasher(algorithm, key);
  return (data) => plainBytes(keyed.copy().update(data).digest());
}

/** HMAC of `data` under `key`, for one-off uses; a key used again should go through keyedHmac. */
export function hmac(algorithm: PoolAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
  return keyedHmac(algorithm, key)(data);
}

/** BLAKE2s compresses 64-byte blocks, so HMAC-BLAKE2s pads its key to B = 64 (RFC 2104, §2). */
const BLAKE2S_BLOCK_BYTES = 64;
const IPAD = 0x36;
const OPAD = 0x5c;

/**
 * RFC 2104 by the letter: H((K' ^ opad) || H((K' ^ ipad) || data)), where K' is the key, or its
 * hash when longer than a block, zero-padded to a block. This is the construction OpenSSL's
 * HMAC-BLAKE2s256 computes; the tests check the two agree, keys longer than a block included.
 * The two padded keys are absorbed into their states once, then copied per call.
 */
function keyedHmacBlake2s256(key: Uint8Array): KeyedHmac {
  const shortKey = key.length > BLAKE2S_BLOCK_BYTES ? digest("blake2s256", key) : key;
  const innerPad = new Uint8Array(BLAKE2S_BLOCK_BYTES).fill(IPAD);
  const outerPad = new Uint8Array(BLAKE2S_BLOCK_BYTES).fill(OPAD);
  for (let i = 0; i < shortKey.length; i++) {
    const k = shortKey[i] ?? 0;
    innerPad[i] = k ^ IPAD;
    outerPad[i] = k ^ OPAD;
  }
  const inner = new Bun.CryptoHasher("blake2s256").update(innerPad);
  const outer = new Bun.CryptoHasher("blake2s256").update(outerPad);
  // Best effort only: the GC may have copied these, but there is no reason to leave them around.
  innerPad.fill(0);
  outerPad.fill(0);
  return (data) => plainBytes(outer.copy().update(inner.copy().update(data).digest()).digest());
}

export type Comparator = (a: Uint8Array, b: Uint8Array) => boolean;

/**
 * Equality whose running time depends on the lengths only, never on where the bytes differ.
 * timingSafeEqual throws on a length mismatch, so a mismatch still runs a full comparison
 * (of `a` with itself) before answering false: lengths are public, contents are not.
 */
export const constantTimeEqual: Comparator = (a, b) => {
  const sameLength = a.length === b.length;
  const contentsEqual = timingSafeEqual(a, sameLength ? b : a);
  return sameLength && contentsEqual;
};

/**
 * Compares `presented` with every candidate, always all of them, and returns the index of the
 * matching one (the last, should several match) or -1. Stopping at the first match would tell a
 * timing observer which candidate matched and how many there are before it.
 */
export function findConstantTime(
  candidates: readonly Uint8Array[],
  presented: Uint8Array,
  compare: Comparator = constantTimeEqual,
): number {
  let found = -1;
  for (let i = 0; i < candidates.length; i++) {
    const candidate = candidates[i];
    if (candidate === undefined) continue;
    const equal = compare(candidate, presented);
    found = equal ? i : found;
  }
  return found;
}
