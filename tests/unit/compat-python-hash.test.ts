import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { Mt19937 } from "../../src/modules/pseudonym/profiles/django-compat/mt19937.ts";
import { pythonHashOfFloat, pythonRandomSeedOfFloat } from "../../src/modules/pseudonym/profiles/django-compat/python-hash.ts";

const HASH_MODULUS = (1n << 61n) - 1n;

/** Integral doubles, small and huge: beyond 2^61 the reduction modulo 2^61 - 1 does real work. */
const integralDouble = fc.oneof(
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -Number.MAX_VALUE, max: Number.MAX_VALUE }).filter(Number.isInteger),
);

// From CPython 3.11.7 (64-bit; sys.hash_info.modulus == 2**61 - 1) on the development machine:
//   python3 -c 'for x in [0.0, -0.0, 1.0, -1.0, 1.5, -1.5, 0.5, 0.1, -0.1, 2.0**61, 2.0**61-256,
//     2.0**62, 3*2.0**61, -(2.0**61), -(2.0**122), 2.0**122, 1.7976931348623157e308, 1e308, -1e308,
//     5e-324, 2.2250738585072014e-308, 2.0**-61, 123456.789, 9007199254740991.0, 1e16,
//     1234.5678901234567]: print(repr(x), hash(x))'
// Every literal below is the repr CPython printed, which parses to the same double in JS.
const cpythonFloatHashes: ReadonlyArray<readonly [string, number, bigint]> = [
  ["zero", 0.0, 0n],
  ["negative zero", -0.0, 0n],
  ["one", 1.0, 1n],
  ["minus one, whose hash would be -1", -1.0, -2n],
  ["1.5", 1.5, 1152921504606846977n],
  ["-1.5", -1.5, -1152921504606846977n],
  ["0.5, the inverse of 2 modulo 2^61 - 1", 0.5, 1152921504606846976n],
  ["0.1, not a dyadic fraction in decimal", 0.1, 230584300921369408n],
  ["-0.1", -0.1, -230584300921369408n],
  ["2^61, one past the modulus", 2.305843009213694e18, 1n],
  ["2^61 - 256, the largest double below 2^61", 2.3058430092136937e18, 2305843009213693696n],
  ["2^62", 4.611686018427388e18, 2n],
  ["3 * 2^61", 6.917529027641082e18, 3n],
  ["-(2^61), whose hash would be -1", -2.305843009213694e18, -2n],
  // biome-ignore lint/correctness/noPrecisionLoss: the shortest literal of the double 2^122, as Python prints it
  ["-(2^122), whose hash would be -1", -5.316911983139664e36, -2n],
  // biome-ignore lint/correctness/noPrecisionLoss: the shortest literal of the double 2^122, as Python prints it
  ["2^122", 5.316911983139664e36, 1n],
  ["the largest double", 1.7976931348623157e308, 2234066890152476671n],
  ["1e308", 1e308, 156575653125701n],
  ["-1e308", -1e308, -156575653125701n],
  ["the smallest subnormal", 5e-324, 16777216n],
  ["the smallest normal", 2.2250738585072014e-308, 32768n],
  ["2^-61", 4.336808689942018e-19, 1n],
  ["123456.789", 123456.789, 1819310134279660096n],
  ["2^53 - 1", 9007199254740991.0, 9007199254740991n],
  ["1e16", 1e16, 10000000000000000n],
  ["1234.5678901234567", 1234.5678901234567, 1309465471174051026n],
];

describe("CPython's hash(float)", () => {
  for (const [description, value, expected] of cpythonFloatHashes) {
    it(`matches CPython for ${description}`, () => {
      expect(pythonHashOfFloat(value)).toBe(expected);
    });
  }

  it("stays within the modulus and never returns -1", () => {
    for (const [, value] of cpythonFloatHashes) {
      const hash = pythonHashOfFloat(value);
      expect(hash < HASH_MODULUS && hash > -HASH_MODULUS).toBe(true);
      expect(hash).not.toBe(-1n);
    }
  });

  it("hashes an integral double like the integer it equals, as CPython promises (hash(float(n)) == hash(n))", () => {
    fc.assert(
      fc.property(integralDouble, (integer) => {
        const magnitudeHash = BigInt(Math.abs(integer)) % HASH_MODULUS;
        const signedHash = integer < 0 ? -magnitudeHash : magnitudeHash;
        expect(pythonHashOfFloat(integer)).toBe(signedHash === -1n ? -2n : signedHash);
      }),
    );
  });

  it("refuses infinities and NaN, whose CPython hash is a constant or an object address", () => {
    expect(() => pythonHashOfFloat(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => pythonHashOfFloat(Number.NEGATIVE_INFINITY)).toThrow(RangeError);
    expect(() => pythonHashOfFloat(Number.NaN)).toThrow(RangeError);
  });
});

describe("random.seed(float)", () => {
  it("seeds a negative hash as its unsigned 64-bit value, not its absolute value", () => {
    expect(pythonRandomSeedOfFloat(1.5)).toBe(1152921504606846977n);
    expect(pythonRandomSeedOfFloat(-1.5)).toBe((1n << 64n) - 1152921504606846977n);
    expect(pythonRandomSeedOfFloat(-1.0)).toBe((1n << 64n) - 2n);
  });

  // From CPython 3.11.7 on the development machine:
  //   python3 -c 'import random
  //   for x in [1.5, -1.5, -1.0, 0.0, 1234.5678901234567, 2.0**122, -(2.0**122)]:
  //       random.seed(x); print(repr(x), [random.getrandbits(32) for _ in range(2)])'
  // (random.seed(-1.5) differs from random.seed(abs(hash(-1.5))), which gives 2369807148 first.)
  const cpythonSeededOutputs: ReadonlyArray<readonly [number, readonly number[]]> = [
    [1.5, [2369807148, 3534653101]],
    [-1.5, [3049922142, 1895599190]],
    [-1.0, [563479156, 3190493702]],
    [0.0, [3626764237, 1654615998]],
    [1234.5678901234567, [3289068766, 1158830309]],
    // biome-ignore lint/correctness/noPrecisionLoss: the shortest literal of the double 2^122, as Python prints it
    [5.316911983139664e36, [577090037, 2444712010]],
    // biome-ignore lint/correctness/noPrecisionLoss: the shortest literal of the double 2^122, as Python prints it
    [-5.316911983139664e36, [563479156, 3190493702]],
  ];

  for (const [value, expected] of cpythonSeededOutputs) {
    it(`gives CPython's first outputs after random.seed(${value})`, () => {
      const generator = Mt19937.seededLikeCPython(pythonRandomSeedOfFloat(value));
      expect([generator.getrandbits(32), generator.getrandbits(32)]).toEqual([...expected]);
    });
  }
});
