import { describe, expect, it } from "bun:test";
import { cpythonSeedKey, Mt19937 } from "../../src/modules/pseudonym/profiles/django-compat/mt19937.ts";

function firstOutputs(generator: Mt19937, count: number): number[] {
  return Array.from({ length: count }, () => generator.nextUint32());
}

describe("MT19937 as CPython's random module runs it", () => {
  // Matsumoto and Nishimura's reference: mt19937ar.c's main() seeds with
  // init_by_array({0x123, 0x234, 0x345, 0x456}, 4) and prints genrand_int32() 1000 times;
  // these are the first ten and the last five of the mt19937ar.out shipped with it in
  // http://www.math.sci.hiroshima-u.ac.jp/~m-mat/MT/MT2002/CODES/mt19937ar.tgz (the same values
  // other ports test against, e.g. D's std.random: output 1000 is 3460025646). CPython 3.11 gives
  // the same: random.Random(0x123 | 0x234 << 32 | 0x345 << 64 | 0x456 << 96).getrandbits(32).
  const referenceKey = [0x123, 0x234, 0x345, 0x456];
  const referenceFirstTen = [
    1067595299, 955945823, 477289528, 4107218783, 4228976476, 3344332714, 3355579695, 227628506, 810200273, 2591290167,
  ];
  const referenceLastFive = [2643151863, 3896204135, 2416995901, 1397735321, 3460025646];

  it("reproduces the reference mt19937ar.c output for init_by_array({0x123, 0x234, 0x345, 0x456})", () => {
    const outputs = firstOutputs(Mt19937.fromKey(referenceKey), 1000);
    expect(outputs.slice(0, 10)).toEqual(referenceFirstTen);
    expect(outputs.slice(995)).toEqual(referenceLastFive);
  });

  it("seeds an integer the way random.seed(int) does: |n| in 32-bit words, least significant first", () => {
    const referenceSeed = 0x123n | (0x234n << 32n) | (0x345n << 64n) | (0x456n << 96n);
    expect([...cpythonSeedKey(referenceSeed)]).toEqual(referenceKey);
    expect(firstOutputs(Mt19937.seededLikeCPython(referenceSeed), 10)).toEqual(referenceFirstTen);
    expect([...cpythonSeedKey(0n)]).toEqual([0]);
    expect([...cpythonSeedKey(-7n)]).toEqual([7]);
    expect([...cpythonSeedKey(1n << 32n)]).toEqual([0, 1]);
  });

  // From CPython 3.11.7 on the development machine:
  //   python3 -c 'import random
  //   for n in [0, 1, 42, 2**32-1, 2**32, 2**64+5, -7, 12345678901234567890]:
  //       random.seed(n); print(n, [random.getrandbits(32) for _ in range(3)])'
  const cpythonGetrandbits32: ReadonlyArray<readonly [bigint, readonly number[]]> = [
    [0n, [3626764237, 1654615998, 3255389356]],
    [1n, [577090037, 2444712010, 3639700191]],
    [42n, [2746317213, 478163327, 107420369]],
    [4294967295n, [2728839433, 2661025012, 872737089]],
    [4294967296n, [485306839, 1508871100, 1794561286]],
    [18446744073709551621n, [2192917427, 3085273184, 3778534651]],
    [-7n, [1390851128, 4071050724, 647892279]],
    [12345678901234567890n, [2199100970, 3695432519, 4002396509]],
  ];

  for (const [seed, expected] of cpythonGetrandbits32) {
    it(`gives CPython's getrandbits(32) sequence after random.seed(${seed})`, () => {
      const generator = Mt19937.seededLikeCPython(seed);
      expect([generator.getrandbits(32), generator.getrandbits(32), generator.getrandbits(32)]).toEqual([...expected]);
    });
  }

  it("takes getrandbits(k) from the top bits of one output, and getrandbits(0) draws nothing", () => {
    // python3 -c 'import random; random.seed(42); print(random.getrandbits(6), random.getrandbits(9), random.getrandbits(1), random.getrandbits(0))'
    // -> 40 57 0 0
    const generator = Mt19937.seededLikeCPython(42n);
    expect([generator.getrandbits(6), generator.getrandbits(9), generator.getrandbits(1), generator.getrandbits(0)]).toEqual([
      40, 57, 0, 0,
    ]);
    // 2746317213 >>> 26 === 40: the first getrandbits(6) is the top of the first 32-bit output.
    expect(2746317213 >>> 26).toBe(40);
  });

  it("draws randbelow like CPython's randrange / randint, rejection included", () => {
    // python3 -c 'import random; random.seed(42); print([random.randrange(50) for _ in range(5)], [random.randint(0, 277) for _ in range(5)])'
    // -> [40, 7, 1, 47, 17] [125, 114, 71, 52, 44]
    const generator = Mt19937.seededLikeCPython(42n);
    const belowFifty = Array.from({ length: 5 }, () => generator.randbelow(50));
    const belowSalts = Array.from({ length: 5 }, () => generator.randbelow(278));
    expect(belowFifty).toEqual([40, 7, 1, 47, 17]);
    expect(belowSalts).toEqual([125, 114, 71, 52, 44]);
  });

  it("refuses arguments CPython's fast path would not handle or would loop on", () => {
    const generator = Mt19937.seededLikeCPython(1n);
    expect(() => generator.randbelow(0)).toThrow(RangeError);
    expect(() => generator.randbelow(1.5)).toThrow(RangeError);
    expect(() => generator.randbelow(2 ** 32)).toThrow(RangeError);
    expect(() => generator.getrandbits(33)).toThrow(RangeError);
    expect(() => generator.getrandbits(-1)).toThrow(RangeError);
    expect(() => Mt19937.fromKey([])).toThrow(RangeError);
    expect(() => Mt19937.fromKey([2 ** 32])).toThrow(RangeError);
  });

  it("keeps no shared state: generators with the same seed do not disturb each other", () => {
    const first = Mt19937.seededLikeCPython(42n);
    const second = Mt19937.seededLikeCPython(42n);
    const interleaved: number[][] = [[], []];
    for (let draw = 0; draw < 3; draw++) {
      interleaved[0]?.push(first.nextUint32());
      interleaved[1]?.push(second.nextUint32());
    }
    expect(interleaved[0]).toEqual([2746317213, 478163327, 107420369]);
    expect(interleaved[1]).toEqual([2746317213, 478163327, 107420369]);
  });
});
