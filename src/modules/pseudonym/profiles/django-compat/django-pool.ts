/**
 * The Django original's pool, typed. The data lives in django-pool.json (a byte-for-byte copy
 * of the shared compat material, kept identical to tests/vectors/compat by a unit test) and is
 * imported statically so `bun build --compile` embeds it in the binary.
 *
 * The JSON is checked once, when this module loads: a pool that is not exactly 50 known hash
 * functions in index order and 278 salts would silently give every user a different digest,
 * so it must stop the process instead.
 */

import poolData from "./django-pool.json";

export const DJANGO_HASH_NAMES = [
  "blake2b",
  "blake2s",
  "blake3",
  "md5",
  "ripemd160",
  "sha1",
  "sha224",
  "sha256",
  "sha384",
  "sha512",
] as const;
export type DjangoHashName = (typeof DJANGO_HASH_NAMES)[number];

export const DJANGO_INPUT_COMPOSITIONS = [
  "data+salt",
  "reverse(data)+salt",
  "data+reverse(salt)",
  "reverse(data)+reverse(salt)",
  "reverse(data+salt)",
] as const;
export type DjangoInputComposition = (typeof DJANGO_INPUT_COMPOSITIONS)[number];

export interface DjangoHashFunction {
  readonly hash: DjangoHashName;
  readonly input: DjangoInputComposition;
}

export interface DjangoPool {
  /** Indexed by the selection's hashIndex. The original has duplicates (3 = 2, 19 = 15, 24 = 20): kept. */
  readonly hashFunctions: readonly DjangoHashFunction[];
  /** Indexed by the selection's saltIndex. */
  readonly salts: readonly string[];
}

const EXPECTED_HASH_FUNCTION_COUNT = 50;
const EXPECTED_SALT_COUNT = 278;

function isOneOf<T extends string>(allowed: readonly T[], value: string): value is T {
  return (allowed as readonly string[]).includes(value);
}

function typedPool(data: typeof poolData): DjangoPool {
  const hashFunctions = data.hashes.map((entry, position): DjangoHashFunction => {
    const { index, hash, input } = entry;
    if (index !== position) throw new Error(`django-pool.json: hash entry ${position} says index ${index}`);
    if (!isOneOf(DJANGO_HASH_NAMES, hash)) throw new Error(`django-pool.json: unknown hash '${hash}'`);
    if (!isOneOf(DJANGO_INPUT_COMPOSITIONS, input)) throw new Error(`django-pool.json: unknown input '${input}'`);
    return Object.freeze({ hash, input });
  });
  if (hashFunctions.length !== EXPECTED_HASH_FUNCTION_COUNT || data.salts.length !== EXPECTED_SALT_COUNT) {
    throw new Error(`django-pool.json: expected ${EXPECTED_HASH_FUNCTION_COUNT} hash functions and ${EXPECTED_SALT_COUNT} salts`);
  }
  return Object.freeze({ hashFunctions: Object.freeze(hashFunctions), salts: Object.freeze([...data.salts]) });
}

export const DJANGO_POOL: DjangoPool = typedPool(poolData);
