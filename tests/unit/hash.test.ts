import { describe, expect, it } from "bun:test";
import { blake2b, blake2s } from "@noble/hashes/blake2.js";
import { EncodingError, fromHex, toHex } from "../../src/crypto/encoding.ts";
import {
  type Comparator,
  constantTimeEqual,
  DIGEST_BYTES,
  digest,
  digestHex,
  findConstantTime,
  hmac,
  isPoolAlgorithm,
  keyedHmac,
  POOL_ALGORITHMS,
  type PoolAlgorithm,
  sha256TextHex,
} from "../../src/crypto/hash.ts";
import blake2Kat from "../vectors/blake2/blake2-kat.json";

interface Blake2Vector {
  hash: string;
  in: string;
  key: string;
  out: string;
}

interface WycheproofMacFile {
  algorithm: string;
  numberOfTests: number;
  testGroups: {
    keySize: number;
    tagSize: number;
    tests: { tcId: number; key: string; msg: string; tag: string; result: "valid" | "invalid" | "acceptable"; flags: string[] }[];
  }[];
}

const kat = blake2Kat as Blake2Vector[];

describe("the pool", () => {
  it("holds exactly the ten strong algorithms, none of md5, SHA-1, RIPEMD-160 or MD4", () => {
    expect([...POOL_ALGORITHMS]).toEqual([
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
    ]);
    for (const weak of ["md5", "sha1", "ripemd160", "md4", "sha224", "sha512-224"]) expect(isPoolAlgorithm(weak)).toBe(false);
  });

  it("never yields fewer than 256 bits, so no pseudonym is a 128- or 160-bit value", () => {
    for (const algorithm of POOL_ALGORITHMS) {
      const out = hmac(algorithm, new Uint8Array(32), new Uint8Array(0));
      expect(out.length).toBe(DIGEST_BYTES[algorithm]);
      expect(out.length).toBeGreaterThanOrEqual(32);
      expect(digest(algorithm, new Uint8Array(0)).length).toBe(DIGEST_BYTES[algorithm]);
    }
  });

  it("refuses an algorithm outside the pool even when a cast lets one through", () => {
    expect(() => hmac("md5" as PoolAlgorithm, new Uint8Array(16), new Uint8Array(0))).toThrow(RangeError);
  });

  it("answers with plain Uint8Arrays, not Buffers", () => {
    expect(hmac("sha256", new Uint8Array(1), new Uint8Array(1)).constructor).toBe(Uint8Array);
    expect(hmac("blake2s256", new Uint8Array(1), new Uint8Array(1)).constructor).toBe(Uint8Array);
    expect(digest("sha256", new Uint8Array(1)).constructor).toBe(Uint8Array);
  });

  it("gives digestHex as the lowercase hex of digest, for every algorithm and length", () => {
    for (const algorithm of POOL_ALGORITHMS)
      for (const length of [0, 1, 55, 64, 200]) {
        const data = crypto.getRandomValues(new Uint8Array(length));
        expect({ algorithm, length, hex: digestHex(algorithm, data) }).toEqual({ algorithm, length, hex: toHex(digest(algorithm, data)) });
      }
    // SHA-256 of "abc" (FIPS 180-2, appendix B.1): the API key store's lookup form.
    expect(digestHex("sha256", new TextEncoder().encode("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("gives sha256TextHex as SHA-256 of the text's UTF-8 bytes, and refuses text with no UTF-8 form", () => {
    for (const text of ["", "abc", "caas_key-with-ASCII-only", "clé", "日本語", "🔑 key", "\u0000", "x".repeat(600)])
      expect({ text, hex: sha256TextHex(text) }).toEqual({ text, hex: digestHex("sha256", new TextEncoder().encode(text)) });
    expect(sha256TextHex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // A lone surrogate: TextEncoder would hash U+FFFD in its place, another key's bytes.
    for (const text of ["\uD800", "a\uDC00b", "key\uD83D"]) expect(() => sha256TextHex(text)).toThrow(EncodingError);
  });
});

describe("BLAKE2 known answers (BLAKE2 team's KAT)", () => {
  const unkeyed = (hash: string) => kat.filter((v) => v.hash === hash && v.key === "");

  it("matches all 256 unkeyed BLAKE2b-512 vectors through Bun.CryptoHasher", () => {
    const vectors = unkeyed("blake2b");
    expect(vectors.length).toBe(256);
    for (const v of vectors) expect(toHex(digest("blake2b512", fromHex(v.in)))).toBe(v.out);
  });

  it("matches all 256 unkeyed BLAKE2s-256 vectors through Bun.CryptoHasher", () => {
    const vectors = unkeyed("blake2s");
    expect(vectors.length).toBe(256);
    for (const v of vectors) expect(toHex(digest("blake2s256", fromHex(v.in)))).toBe(v.out);
  });

  // @noble/hashes is the reference for blake2b256 below and for HMAC-BLAKE2b-256 in
  // hash-openssl.test.ts, so it is held to the KAT first, keyed vectors included.
  it("holds the reference (@noble/hashes) to all 1,024 vectors, keyed ones included", () => {
    for (const v of kat) {
      const opts = v.key === "" ? {} : { key: fromHex(v.key) };
      const out = v.hash === "blake2b" ? blake2b(fromHex(v.in), opts) : blake2s(fromHex(v.in), opts);
      expect(toHex(out)).toBe(v.out);
    }
  });

  it("computes BLAKE2b-256 as BLAKE2b with a 32-byte output parameter, not a truncated BLAKE2b-512", () => {
    // The KAT only has 64-byte BLAKE2b outputs; BLAKE2b-256 is checked against the reference.
    for (const length of [0, 1, 3, 63, 64, 127, 128, 129, 255, 1000]) {
      const data = crypto.getRandomValues(new Uint8Array(length));
      const ours = digest("blake2b256", data);
      expect(toHex(ours)).toBe(toHex(blake2b(data, { dkLen: 32 })));
      expect(toHex(ours)).not.toBe(toHex(digest("blake2b512", data).subarray(0, 32)));
    }
    expect(toHex(digest("blake2b256", new TextEncoder().encode("abc")))).toBe(
      "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319",
    );
  });
});

describe("HMAC against Wycheproof vectors", () => {
  const files: Record<string, { file: string; algorithm: PoolAlgorithm }> = {
    HMACSHA256: { file: "hmac_sha256_test.json", algorithm: "sha256" },
    HMACSHA384: { file: "hmac_sha384_test.json", algorithm: "sha384" },
    HMACSHA512: { file: "hmac_sha512_test.json", algorithm: "sha512" },
    "HMACSHA512/256": { file: "hmac_sha512_256_test.json", algorithm: "sha512-256" },
    "HMACSHA3-256": { file: "hmac_sha3_256_test.json", algorithm: "sha3-256" },
    "HMACSHA3-512": { file: "hmac_sha3_512_test.json", algorithm: "sha3-512" },
  };

  for (const [name, { file, algorithm }] of Object.entries(files)) {
    it(`agrees with every ${name} vector, valid and invalid, at full and truncated tag sizes`, async () => {
      const vectors = (await Bun.file(new URL(`../vectors/wycheproof/${file}`, import.meta.url)).json()) as WycheproofMacFile;
      expect(vectors.algorithm).toBe(name);
      let count = 0;
      const seen = { valid: 0, invalid: 0 };
      for (const group of vectors.testGroups) {
        expect(group.tagSize % 8).toBe(0);
        for (const test of group.tests) {
          const tag = hmac(algorithm, fromHex(test.key), fromHex(test.msg)).subarray(0, group.tagSize / 8);
          const matches = constantTimeEqual(tag, fromHex(test.tag));
          // No vector in these files is "acceptable"; should one appear, it must be looked at.
          expect({ tcId: test.tcId, result: test.result }).toEqual({ tcId: test.tcId, result: matches ? "valid" : "invalid" });
          if (test.result === "valid" || test.result === "invalid") seen[test.result]++;
          count++;
        }
      }
      expect(count).toBe(vectors.numberOfTests);
      expect(seen.valid).toBeGreaterThan(0);
      expect(seen.invalid).toBeGreaterThan(0);
    });
  }
});

describe("constantTimeEqual", () => {
  it("is true for equal bytes and false for any difference", () => {
    const a = crypto.getRandomValues(new Uint8Array(64));
    expect(constantTimeEqual(a, a.slice())).toBe(true);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    for (const position of [0, 31, 63]) {
      const b = a.slice();
      b[position] = (b[position] ?? 0) ^ 1;
      expect(constantTimeEqual(a, b)).toBe(false);
    }
  });

  it("answers false, without throwing, when the lengths differ", () => {
    const a = crypto.getRandomValues(new Uint8Array(32));
    expect(constantTimeEqual(a, a.subarray(0, 31))).toBe(false);
    expect(constantTimeEqual(a.subarray(0, 31), a)).toBe(false);
    expect(constantTimeEqual(a, new Uint8Array(0))).toBe(false);
  });
});

describe("findConstantTime", () => {
  const counting =
    (calls: { n: number }): Comparator =>
    (a, b) => {
      calls.n++;
      return constantTimeEqual(a, b);
    };
  const candidates = Array.from({ length: 5 }, () => crypto.getRandomValues(new Uint8Array(32)));

  it("compares with every candidate even when the first one matches", () => {
    const calls = { n: 0 };
    expect(findConstantTime(candidates, candidates[0] ?? new Uint8Array(0), counting(calls))).toBe(0);
    expect(calls.n).toBe(candidates.length);
  });

  it("finds a match in any position and answers -1 for none, comparing with every candidate each time", () => {
    for (let i = 0; i < candidates.length; i++) {
      const calls = { n: 0 };
      expect(findConstantTime(candidates, (candidates[i] ?? new Uint8Array(0)).slice(), counting(calls))).toBe(i);
      expect(calls.n).toBe(candidates.length);
    }
    const calls = { n: 0 };
    expect(findConstantTime(candidates, new Uint8Array(32), counting(calls))).toBe(-1);
    expect(calls.n).toBe(candidates.length);
    expect(findConstantTime([], new Uint8Array(32))).toBe(-1);
  });

  it("uses constantTimeEqual when given no comparator", () => {
    expect(findConstantTime(candidates, (candidates[2] ?? new Uint8Array(0)).slice())).toBe(2);
  });
});

describe("keyedHmac (the keyed state copied per call)", () => {
  const key = Uint8Array.from({ length: 80 }, (_, i) => (i * 7 + 3) & 0xff); // longer than every block
  const messages = ["", "a", "the same key, again", "x".repeat(300)].map((text) => new TextEncoder().encode(text));

  // hmac() keys a fresh state per call, so nothing can carry over between its calls.
  it.each([...POOL_ALGORITHMS])("%s: every call equals a one-off HMAC, whatever came before it", (algorithm) => {
    const mac = keyedHmac(algorithm, key);
    for (const round of [1, 2]) {
      for (const message of messages)
        expect({ round, tag: toHex(mac(message)) }).toEqual({ round, tag: toHex(hmac(algorithm, key, message)) });
    }
  });

  it("refuses a name outside the pool, as hmac does", () => {
    expect(() => keyedHmac("md5" as PoolAlgorithm, key)).toThrow(RangeError);
  });
});
