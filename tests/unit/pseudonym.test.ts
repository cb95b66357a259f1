import { describe, expect, it } from "bun:test";
import { POOL_ALGORITHMS } from "../../src/crypto/hash.ts";
import { SALT_LENGTHS } from "../../src/crypto/kdf.ts";
import { CaasError, InvalidText, InvalidUuid } from "../../src/errors.ts";
import { STATUS_OF } from "../../src/http/error-answers.ts";
import { makeSecretRing, newSecretVersion, type SecretRing } from "../../src/credentials/secret-ring.ts";
import fc from "fast-check";
import { canonicalUserId, PseudonymMemo, pseudonymFor, selectFor, verifyPseudonym } from "../../src/modules/pseudonym/profiles/standard.ts";

const ring = makeSecretRing([newSecretVersion(1)]);
const user = "4dbcbcfe-4800-40a8-badf-c26b73af230c";
const data = "example sensitive data";

function rotated(from: SecretRing): SecretRing {
  return makeSecretRing([...from.versions, newSecretVersion(from.newest.version + 1)]);
}

function flipFirstNibble(hex: string): string {
  return (hex[0] === "0" ? "1" : "0") + hex.slice(1);
}

describe("canonicalUserId", () => {
  it("accepts an RFC 9562 UUID of any version, and the nil and max UUIDs", () => {
    for (const id of [
      "4dbcbcfe-4800-40a8-badf-c26b73af230c", // v4
      "c232ab00-9414-11ec-b3c8-9f6bdeced846", // v1
      "5df41881-3aed-3515-88a7-2f4a814cf09e", // v3
      "2ed6657d-e927-568b-95e1-2665a8aea6a2", // v5
      "1ec9414c-232a-6b00-b3c8-9f6bdeced846", // v6
      "017f22e2-79b0-7cc3-98c4-dc0c0c07398f", // v7
      "320c3d4d-cc00-875b-8ec9-32d5f69181c0", // v8
      "00000000-0000-0000-0000-000000000000",
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ]) {
      expect(canonicalUserId(id)).toBe(id);
    }
  });

  it("lower-cases, so ABC… and abc… are the same user", () => {
    expect(canonicalUserId("4DBCBCFE-4800-40A8-BADF-C26B73AF230C")).toBe(user);
    expect(pseudonymFor(ring, user.toUpperCase(), data)).toEqual(pseudonymFor(ring, user, data));
  });

  it("refuses anything else with invalid_uuid (400), without echoing the input", () => {
    for (const id of [
      "",
      "not-a-uuid",
      "4dbcbcfe480040a8badfc26b73af230c",
      "{4dbcbcfe-4800-40a8-badf-c26b73af230c}",
      "urn:uuid:4dbcbcfe-4800-40a8-badf-c26b73af230c",
      " 4dbcbcfe-4800-40a8-badf-c26b73af230c",
      "4dbcbcfe-4800-40a8-badf-c26b73af230c ",
      "4dbcbcfe-4800-40a8-badf-c26b73af230c\n",
      "4dbcbcfe-4800-40a8-badf-c26b73af230",
      "4dbcbcfe-4800-40a8-badf-c26b73af230cc",
      "4dbcbcfe-4800-40a8-badfc-26b73af230c",
      "gdbcbcfe-4800-40a8-badf-c26b73af230c",
      "４dbcbcfe-4800-40a8-badf-c26b73af230c",
    ]) {
      let thrown: unknown;
      try {
        canonicalUserId(id);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidUuid);
      expect(thrown).toBeInstanceOf(CaasError);
      const error = thrown as InvalidUuid;
      expect([error.code, STATUS_OF[error.code]]).toEqual(["invalid_uuid", 400]);
      if (id.trim() !== "") expect(error.message).not.toContain(id.trim());
    }
  });

  it("refuses a non-string that got past the types", () => {
    for (const value of [undefined, null, 42, {}, ["4dbcbcfe-4800-40a8-badf-c26b73af230c"]]) {
      expect(() => canonicalUserId(value as unknown as string)).toThrow(InvalidUuid);
    }
  });
});

describe("selection", () => {
  const users = Array.from({ length: 10_000 }, () => crypto.randomUUID());

  it("chooses every algorithm and every salt length within 20% of its fair share over 10,000 UUIDs", () => {
    const byAlgorithm = new Map<string, number>();
    const byLength = new Map<number, number>();
    const bySalt = new Map<string, number>();
    for (const id of users) {
      const { algorithm, salt } = selectFor(ring.newest, id);
      byAlgorithm.set(algorithm, (byAlgorithm.get(algorithm) ?? 0) + 1);
      byLength.set(salt.length, (byLength.get(salt.length) ?? 0) + 1);
      bySalt.set(salt.text, (bySalt.get(salt.text) ?? 0) + 1);
    }
    const within20 = (count: number | undefined, fair: number) => {
      expect(count).toBeGreaterThanOrEqual(fair * 0.8);
      expect(count).toBeLessThanOrEqual(fair * 1.2);
    };
    expect(byAlgorithm.size).toBe(POOL_ALGORITHMS.length);
    for (const algorithm of POOL_ALGORITHMS) within20(byAlgorithm.get(algorithm), users.length / POOL_ALGORITHMS.length);
    expect(byLength.size).toBe(SALT_LENGTHS.length);
    for (const length of SALT_LENGTHS) within20(byLength.get(length), users.length / SALT_LENGTHS.length);
    // Each single salt too (16 of them, 625 expected each; 20% is five standard deviations).
    for (const count of bySalt.values()) within20(count, users.length / bySalt.size);
  });

  it("is the same for the same secret and user, and does not depend on the UUID's case", () => {
    for (const id of users.slice(0, 100)) {
      expect(selectFor(ring.newest, id.toUpperCase())).toEqual(selectFor(ring.newest, id));
    }
  });

  it("changes with the secret: another secret gives another spread of users", () => {
    const other = makeSecretRing([newSecretVersion(1)]);
    const same = users.slice(0, 1000).filter((id) => selectFor(ring.newest, id).algorithm === selectFor(other.newest, id).algorithm);
    // Independent picks agree one time in ten; a secret-independent pick would agree always.
    expect(same.length).toBeLessThan(200);
  });
});

describe("pseudonymFor", () => {
  it("gives the same digest for the same secret, user and data", () => {
    const first = pseudonymFor(ring, user, data);
    expect(pseudonymFor(ring, user, data)).toEqual(first);
    // A ring rebuilt from the same secret (as after a restart) shares no cache with the first.
    const rebuilt = makeSecretRing(ring.versions.map((v) => ({ ...v, secret: v.secret.slice() })));
    expect(pseudonymFor(rebuilt, user, data)).toEqual(first);
  });

  it("gives another digest under another secret", () => {
    const other = makeSecretRing([newSecretVersion(1)]);
    for (let i = 0; i < 200; i++) {
      const id = crypto.randomUUID();
      expect(pseudonymFor(other, id, data).digest).not.toBe(pseudonymFor(ring, id, data).digest);
    }
  });

  it("gives another digest for another user or other data", () => {
    const mine = pseudonymFor(ring, user, data).digest;
    expect(pseudonymFor(ring, "4dbcbcfe-4800-40a8-badf-c26b73af230d", data).digest).not.toBe(mine);
    expect(pseudonymFor(ring, user, `${data}.`).digest).not.toBe(mine);
    expect(pseudonymFor(ring, user, "").digest).not.toBe(mine);
  });

  it("never answers with a 128- or 160-bit digest, only lowercase hex of 256 bits or more", () => {
    const lengths = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const { digest } = pseudonymFor(ring, crypto.randomUUID(), data);
      expect(digest).toMatch(/^[0-9a-f]+$/);
      lengths.add(digest.length);
    }
    expect([...lengths].sort((a, b) => a - b)).toEqual([64, 96, 128]);
  });

  it("says which secret version made it: the newest", () => {
    expect(pseudonymFor(ring, user, data).version).toBe(1);
    const next = rotated(ring);
    expect(pseudonymFor(next, user, data).version).toBe(2);
  });

  it("gives one digest for one user across 1,000 concurrent computations, whatever else runs", async () => {
    const tasks = Array.from({ length: 1000 }, async (_, i) => {
      await Bun.sleep(i % 7);
      // Other users in between push this user's cached material in and out of the memo.
      for (let j = 0; j < 3; j++) pseudonymFor(ring, crypto.randomUUID(), data);
      return pseudonymFor(ring, user, data).digest;
    });
    const digests = new Set(await Promise.all(tasks));
    expect(digests.size).toBe(1);
    expect([...digests][0]).toBe(pseudonymFor(ring, user, data).digest);
  });

  it("hashes data as UTF-8, and refuses a lone surrogate with invalid_text rather than guessing", () => {
    expect(pseudonymFor(ring, user, "é").digest).not.toBe(pseudonymFor(ring, user, "e\u0301").digest);
    expect(() => pseudonymFor(ring, user, "a\ud800b")).toThrow(InvalidText);
  });
});

describe("verifyPseudonym", () => {
  const { digest } = pseudonymFor(ring, user, data);

  it("is true for a real digest, in either case of hex", () => {
    expect(verifyPseudonym(ring, { userId: user, data: data, digestHex: digest })).toBe(true);
    expect(verifyPseudonym(ring, { userId: user, data: data, digestHex: digest.toUpperCase() })).toBe(true);
    expect(verifyPseudonym(ring, { userId: user.toUpperCase(), data: data, digestHex: digest })).toBe(true);
  });

  it("is false for a wrong digest, another user's, other data's, or anything not hex", () => {
    expect(verifyPseudonym(ring, { userId: user, data: data, digestHex: flipFirstNibble(digest) })).toBe(false);
    expect(verifyPseudonym(ring, { userId: user, data: data, digestHex: digest.slice(0, -2) })).toBe(false);
    expect(verifyPseudonym(ring, { userId: user, data: data, digestHex: `${digest}00` })).toBe(false);
    expect(verifyPseudonym(ring, { userId: "4dbcbcfe-4800-40a8-badf-c26b73af230d", data: data, digestHex: digest })).toBe(false);
    expect(verifyPseudonym(ring, { userId: user, data: "other data", digestHex: digest })).toBe(false);
    for (const junk of ["", "0", "zz", `${digest.slice(0, -1)}g`, ` ${digest}`, "00".repeat(32)]) {
      expect(verifyPseudonym(ring, { userId: user, data: data, digestHex: junk })).toBe(false);
    }
  });

  it("is true after a rotation for a digest made under the previous version, and for a new one", () => {
    const next = rotated(rotated(ring));
    expect(next.versions.map((v) => v.version)).toEqual([1, 2, 3]);
    expect(verifyPseudonym(next, { userId: user, data: data, digestHex: digest })).toBe(true);
    const fresh = pseudonymFor(next, user, data);
    expect(fresh.version).toBe(3);
    expect(fresh.digest).not.toBe(digest);
    expect(verifyPseudonym(next, { userId: user, data: data, digestHex: fresh.digest })).toBe(true);
    // A digest from a version the ring does not hold does not verify.
    expect(verifyPseudonym(ring, { userId: user, data: data, digestHex: fresh.digest })).toBe(false);
  });

  it("is false for a digest made under a retired version, and true again for one not retired", () => {
    const next = rotated(rotated(ring));
    const retiredFirst = makeSecretRing(next.versions.map((v) => (v.version === 1 ? { ...v, retired: "2025-06-01T00:00:00.000Z" } : v)));
    expect(retiredFirst.verifying.map((v) => v.version)).toEqual([2, 3]);
    expect(verifyPseudonym(retiredFirst, { userId: user, data: data, digestHex: digest })).toBe(false);
    const underTwo = pseudonymFor(makeSecretRing(next.versions.slice(0, 2)), user, data).digest;
    expect(verifyPseudonym(retiredFirst, { userId: user, data: data, digestHex: underTwo })).toBe(true);
  });

  it("never lets the newest version, which makes pseudonyms, be retired", () => {
    expect(() => makeSecretRing([{ ...newSecretVersion(1), retired: "2025-06-01T00:00:00.000Z" }])).toThrow(RangeError);
  });

  it("refuses a non-UUID user as pseudonymFor does", () => {
    expect(() => verifyPseudonym(ring, { userId: "nope", data: data, digestHex: digest })).toThrow(InvalidUuid);
  });
});

describe("the memo of users' derived material (CAAS_PSEUDONYM_CACHE_USERS)", () => {
  it("never holds more users per secret version than its bound, however many come", () => {
    const memo = new PseudonymMemo(8);
    for (let i = 0; i < 100; i++) {
      pseudonymFor(ring, crypto.randomUUID(), data, memo);
      expect(memo.usersHeld(ring.newest)).toBeLessThanOrEqual(8);
    }
    expect(memo.usersHeld(ring.newest)).toBe(8);
    // verify derives under every version, each bounded on its own.
    const two = rotated(ring);
    const twoMemo = new PseudonymMemo(8);
    for (let i = 0; i < 50; i++) verifyPseudonym(two, { userId: crypto.randomUUID(), data: data, digestHex: "00" }, twoMemo);
    for (const version of two.versions) expect(twoMemo.usersHeld(version)).toBe(8);
  });

  it("changes no digest: an evicted user, a kept user and one computed without a memo get the same answer", () => {
    fc.assert(
      fc.property(fc.uuid(), fc.string(), fc.integer({ min: 1, max: 4 }), (id, text, bound) => {
        const reference = pseudonymFor(ring, id, text, new PseudonymMemo(1_000)).digest;
        const memo = new PseudonymMemo(bound);
        expect(pseudonymFor(ring, id, text, memo).digest).toBe(reference);
        // Pushed out by `bound` others, then derived again from scratch.
        for (let i = 0; i < bound; i++) pseudonymFor(ring, crypto.randomUUID(), text, memo);
        expect(pseudonymFor(ring, id, text, memo).digest).toBe(reference);
        // Kept: asked again at once.
        expect(pseudonymFor(ring, id, text, memo).digest).toBe(reference);
        expect(verifyPseudonym(ring, { userId: id, data: text, digestHex: reference }, memo)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("keeps the most recently used users, so a returning user is not the one pushed out", () => {
    const memo = new PseudonymMemo(2);
    const [a, b, c] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    pseudonymFor(ring, a, data, memo);
    pseudonymFor(ring, b, data, memo);
    pseudonymFor(ring, a, data, memo); // a is now the most recent
    pseudonymFor(ring, c, data, memo); // pushes out b, not a
    expect(memo.usersHeld(ring.newest)).toBe(2);
    expect([a, b, c].map((id) => memo.holdsUser(ring.newest, id))).toEqual([true, false, true]);
  });

  it("refuses a bound that is not a whole number of at least one", () => {
    for (const bound of [0, -1, 1.5, Number.NaN]) expect(() => new PseudonymMemo(bound)).toThrow(RangeError);
  });
});
