/**
 * The Django original's digest, reproduced byte for byte so its users can move to caas.
 *
 * The original picks a hash function and a salt per user id with CPython's `random` module:
 *   p = sum((i + 1) * ord(c) for i, c in enumerate(u)); n = len(u)
 *   x = p / ((n * (n + 1) / 2) + 1)          # a float
 *   random.seed(x); hash_index = random.randint(0, 49)
 *   random.seed(x); salt_index = random.randint(0, 277)
 * and returns hex(hash(compose(data, salt))). Everything here is a pure function of its
 * arguments: no generator outlives a call, which is what makes concurrent requests safe.
 */

import { blake3 } from "@noble/hashes/blake3.js";
import { encodeUtf8, toHex } from "../../../../crypto/encoding.ts";
import { InvalidText } from "../../../../errors.ts";
import { DJANGO_POOL, type DjangoHashName, type DjangoInputComposition } from "./django-pool.ts";
import { Mt19937 } from "./mt19937.ts";
import { pythonRandomSeedOfFloat } from "./python-hash.ts";

export interface DjangoSelection {
  readonly hashIndex: number;
  readonly saltIndex: number;
}

/**
 * The float the original seeds `random` with for this user id, computed with CPython's
 * roundings: the code-point sum is an exact int converted to the nearest double, and
 * n(n+1)/2 is int true division (exact, then rounded) before the float + 1.
 */
export function djangoSeedFloat(userId: string): number {
  let codePointCount = 0;
  let exactWeightedSum = 0n;
  // Sum in a double while it is exact and fold into the bigint only before it would not be:
  // ids are short in practice, and a bigint per code point would make long ones needlessly slow.
  let pendingWeightedSum = 0;
  for (const character of userId) {
    codePointCount++;
    const weight = codePointCount * (character.codePointAt(0) ?? 0);
    if (pendingWeightedSum + weight > Number.MAX_SAFE_INTEGER) {
      exactWeightedSum += BigInt(pendingWeightedSum);
      pendingWeightedSum = 0;
    }
    pendingWeightedSum += weight;
  }
  exactWeightedSum += BigInt(pendingWeightedSum);

  const count = BigInt(codePointCount);
  const triangularNumber = Number((count * (count + 1n)) / 2n);
  return Number(exactWeightedSum) / (triangularNumber + 1);
}

/** Which of the pool's hash functions and salts the original used for this user id. */
export function djangoSelection(userId: string): DjangoSelection {
  const seed = pythonRandomSeedOfFloat(djangoSeedFloat(userId));
  // The original reseeds before each draw, so both indices come from a freshly seeded generator.
  return {
    hashIndex: Mt19937.seededLikeCPython(seed).randbelow(DJANGO_POOL.hashFunctions.length),
    saltIndex: Mt19937.seededLikeCPython(seed).randbelow(DJANGO_POOL.salts.length),
  };
}

/** The original's digest of data for this user id, as lowercase hex at the hash's default size. */
export function djangoDigest(userId: string, data: string): string {
  // No UTF-8 form, and the original raised on it too (CPython's str.encode): no digest to reproduce.
  if (!data.isWellFormed()) throw new InvalidText("sensitiveData");
  const { hashIndex, saltIndex } = djangoSelection(userId);
  const hashFunction = DJANGO_POOL.hashFunctions[hashIndex];
  const salt = DJANGO_POOL.salts[saltIndex];
  if (hashFunction === undefined || salt === undefined) {
    throw new Error("django-compat selection fell outside the pool"); // randbelow bounds make this unreachable
  }
  const input = encodeUtf8(COMPOSE_INPUT[hashFunction.input](data, salt));
  return toHex(HASH_BYTES[hashFunction.hash](input));
}

/** Python's `s[::-1]`: reverses code points, so a surrogate pair stays one character. */
function reverseCodePoints(text: string): string {
  return Array.from(text).reverse().join("");
}

const COMPOSE_INPUT: Readonly<Record<DjangoInputComposition, (data: string, salt: string) => string>> = {
  "data+salt": (data, salt) => data + salt,
  "reverse(data)+salt": (data, salt) => reverseCodePoints(data) + salt,
  "data+reverse(salt)": (data, salt) => data + reverseCodePoints(salt),
  "reverse(data)+reverse(salt)": (data, salt) => reverseCodePoints(data) + reverseCodePoints(salt),
  "reverse(data+salt)": (data, salt) => reverseCodePoints(data + salt),
};

function cryptoHasherDigest(algorithm: Bun.SupportedCryptoAlgorithms): (input: Uint8Array) => Uint8Array {
  return (input) => Bun.CryptoHasher.hash(algorithm, input);
}

/** Each at the size Python's hashlib / blake3 give by default. */
export const HASH_BYTES: Readonly<Record<DjangoHashName, (input: Uint8Array) => Uint8Array>> = {
  blake2b: cryptoHasherDigest("blake2b512"),
  blake2s: cryptoHasherDigest("blake2s256"),
  blake3: (input) => blake3(input),
  md5: cryptoHasherDigest("md5"),
  ripemd160: cryptoHasherDigest("ripemd160"),
  sha1: cryptoHasherDigest("sha1"),
  sha224: cryptoHasherDigest("sha224"),
  sha256: cryptoHasherDigest("sha256"),
  sha384: cryptoHasherDigest("sha384"),
  sha512: cryptoHasherDigest("sha512"),
};
