/**
 * CPython's `hash(float)` and what `random.seed(float)` does with it, for 64-bit builds
 * (sys.hash_info: width 64, modulus 2^61 - 1).
 *
 * CPython defines the hash of every number as its value as a fraction reduced modulo the
 * Mersenne prime P = 2^61 - 1 (Python docs, "Hashing of numeric types"). A finite double is
 * exactly m * 2^e with an integer m, and 2^61 is 1 modulo P, so its hash is
 * m * 2^(e mod 61) mod P with the sign of the double. `_Py_HashDouble` in Python/pyhash.c
 * computes the same thing 28 bits at a time in machine words; bigints let us state it directly.
 */

const HASH_BITS = 61n;
const HASH_MODULUS = (1n << HASH_BITS) - 1n;
const FRACTION_BITS = 52n;
const EXPONENT_BIAS = 1075n; // 1023, plus 52 to make the mantissa an integer

/** `hash(x)` for a finite double x, as CPython's signed Py_hash_t. */
export function pythonHashOfFloat(value: number): bigint {
  if (!Number.isFinite(value)) {
    // inf hashes to a constant, but NaN hashes by object identity: neither is reproducible data.
    throw new RangeError("only finite doubles have a reproducible CPython hash");
  }
  if (value === 0) return 0n; // both 0.0 and -0.0

  const { mantissa, exponent } = exactBinaryParts(Math.abs(value));
  const exponentModHashBits = ((exponent % HASH_BITS) + HASH_BITS) % HASH_BITS;
  const magnitudeHash = ((mantissa % HASH_MODULUS) << exponentModHashBits) % HASH_MODULUS;
  const signedHash = value < 0 ? -magnitudeHash : magnitudeHash;
  // -1 is CPython's C-level error signal, so no object may hash to it.
  return signedHash === -1n ? -2n : signedHash;
}

/**
 * The integer `random.seed(x)` feeds to MT19937 for a float x in CPython 3.11.
 * `random_seed` in Modules/_randommodule.c takes `PyObject_Hash(x)` and converts it with
 * `PyLong_FromSize_t((size_t)hash)`: a negative hash becomes its unsigned 64-bit two's
 * complement (two key words), not its absolute value as an int seed would.
 */
export function pythonRandomSeedOfFloat(value: number): bigint {
  return BigInt.asUintN(64, pythonHashOfFloat(value));
}

/** |value| = mantissa * 2^exponent exactly, for a finite positive double. */
function exactBinaryParts(value: number): { mantissa: bigint; exponent: bigint } {
  const bits = new BigUint64Array(new Float64Array([value]).buffer)[0] ?? 0n;
  const biasedExponent = (bits >> FRACTION_BITS) & 0x7ffn;
  const fraction = bits & ((1n << FRACTION_BITS) - 1n);
  if (biasedExponent === 0n) {
    // Subnormal: no implicit leading bit, and the exponent stays at its minimum.
    return { mantissa: fraction, exponent: 1n - EXPONENT_BIAS };
  }
  return { mantissa: fraction | (1n << FRACTION_BITS), exponent: biasedExponent - EXPONENT_BIAS };
}
