import { describe, expect, it } from "bun:test";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { fromHex, toHex } from "../../src/crypto/encoding.ts";
import { deriveSaltPool, deriveSelectionKey, deriveUserKey, hkdfSha256, SALT_LENGTHS, SALTS_PER_LENGTH } from "../../src/crypto/kdf.ts";
import { README_USER } from "../../support/constants.ts";

const secret = fromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
const otherSecret = fromHex("ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");

describe("hkdfSha256", () => {
  // RFC 5869, appendix A, test cases 1 to 3 (the SHA-256 ones).
  const rfc5869 = [
    {
      ikm: "0b".repeat(22),
      salt: "000102030405060708090a0b0c",
      info: "f0f1f2f3f4f5f6f7f8f9",
      length: 42,
      okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    },
    {
      ikm: Array.from({ length: 80 }, (_, i) => i.toString(16).padStart(2, "0")).join(""),
      salt: Array.from({ length: 80 }, (_, i) => (0x60 + i).toString(16).padStart(2, "0")).join(""),
      info: Array.from({ length: 80 }, (_, i) => (0xb0 + i).toString(16).padStart(2, "0")).join(""),
      length: 82,
      okm:
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09" +
        "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
    },
    {
      ikm: "0b".repeat(22),
      salt: "",
      info: "",
      length: 42,
      okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    },
  ];

  it("matches RFC 5869's SHA-256 test vectors", () => {
    for (const v of rfc5869) {
      expect(toHex(hkdfSha256(fromHex(v.ikm), fromHex(v.salt), fromHex(v.info), v.length))).toBe(v.okm);
    }
  });

  it("matches @noble/hashes for random inputs and lengths", () => {
    for (const length of [1, 31, 32, 33, 64, 100, 255, 8160]) {
      const ikm = crypto.getRandomValues(new Uint8Array(32));
      const salt = crypto.getRandomValues(new Uint8Array(length % 70));
      const info = crypto.getRandomValues(new Uint8Array(length % 50));
      expect(toHex(hkdfSha256(ikm, salt, info, length))).toBe(toHex(hkdf(sha256, ikm, salt, info, length)));
    }
  });

  it("refuses a length HKDF-SHA256 cannot give", () => {
    for (const length of [0, -1, 1.5, 8161, Number.NaN]) {
      expect(() => hkdfSha256(secret, new Uint8Array(0), new Uint8Array(0), length)).toThrow(RangeError);
    }
  });
});

describe("the salt pool", () => {
  const pool = deriveSaltPool(secret);

  it("has several salts of each of the lengths 8, 16, 32 and 64 characters", () => {
    expect(pool.length).toBe(SALT_LENGTHS.length * SALTS_PER_LENGTH);
    expect(SALTS_PER_LENGTH).toBeGreaterThanOrEqual(4);
    for (const length of [8, 16, 32, 64]) {
      const ofLength = pool.filter((salt) => salt.length === length);
      expect(ofLength.length).toBe(SALTS_PER_LENGTH);
      for (const salt of ofLength) {
        expect(salt.text.length).toBe(length);
        expect(salt.text).toMatch(/^[A-Za-z0-9_-]+$/);
      }
    }
  });

  it("holds distinct salts", () => {
    expect(new Set(pool.map((salt) => salt.text)).size).toBe(pool.length);
  });

  it("is the same for the same secret, so restarts and instances agree", () => {
    expect(deriveSaltPool(secret.slice())).toEqual(pool);
  });

  it("is entirely different under another secret, so no salt can be written in source", () => {
    const other = new Set(deriveSaltPool(otherSecret).map((salt) => salt.text));
    for (const salt of pool) expect(other.has(salt.text)).toBe(false);
  });
});

describe("per-user keys", () => {
  const [salt, anotherSalt] = deriveSaltPool(secret);
  if (salt === undefined || anotherSalt === undefined) throw new Error("empty pool");
  const user = README_USER;

  it("are as long as asked, so each HMAC gets a key as long as its output", () => {
    for (const length of [32, 48, 64])
      expect(deriveUserKey(secret, salt, { algorithm: "sha256", userId: user, length: length }).length).toBe(length);
  });

  it("differ with the user, the salt, the algorithm and the secret", () => {
    const key = toHex(deriveUserKey(secret, salt, { algorithm: "sha256", userId: user, length: 32 }));
    expect(toHex(deriveUserKey(secret, salt, { algorithm: "sha256", userId: user, length: 32 }))).toBe(key);
    expect(
      toHex(deriveUserKey(secret, salt, { algorithm: "sha256", userId: "4dbcbcfe-4800-40a8-badf-c26b73af230d", length: 32 })),
    ).not.toBe(key);
    expect(toHex(deriveUserKey(secret, anotherSalt, { algorithm: "sha256", userId: user, length: 32 }))).not.toBe(key);
    expect(toHex(deriveUserKey(secret, salt, { algorithm: "sha3-256", userId: user, length: 32 }))).not.toBe(key);
    expect(toHex(deriveUserKey(otherSecret, salt, { algorithm: "sha256", userId: user, length: 32 }))).not.toBe(key);
  });

  it("are independent of the selection key derived from the same secret", () => {
    expect(toHex(deriveSelectionKey(secret))).not.toBe(
      toHex(deriveUserKey(secret, salt, { algorithm: "sha256", userId: user, length: 32 })),
    );
    expect(deriveSelectionKey(secret).length).toBe(32);
  });

  it("refuse a label that could be confused with another (a NUL inside a part)", () => {
    expect(() => deriveUserKey(secret, salt, { algorithm: "sha256\0x", userId: user, length: 32 })).toThrow(RangeError);
  });
});
