/**
 * crypto/aead-node.ts (node:crypto, the oracle's backend) held to crypto/aead.ts (Web Crypto, an
 * independent implementation behind a different API): on random keys, nonces, texts and aad,
 * each opens what the other sealed, and under the same key and nonce both give the same
 * ciphertext and tag. The Wycheproof vectors run through it in aead-node-wycheproof.test.ts.
 */
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import * as web from "../../src/crypto/aead.ts";
import * as node from "../../src/crypto/aead-node.ts";

const bytes = (minLength: number, maxLength: number) => fc.uint8Array({ minLength, maxLength }).map((array) => new Uint8Array(array));
const key = fc.constantFrom(16, 24, 32).chain((length) => bytes(length, length));
/** 12 bytes is the oracle's, 16 the Flask original's; any length from 1 to 128 is GCM's (GHASH-derived counter). */
const nonce = fc.oneof(bytes(12, 12), bytes(16, 16), bytes(1, 128));
const plaintext = fc.oneof(bytes(0, 64), bytes(0, 4096));
const aad = fc.option(bytes(0, 256), { nil: undefined });

describe("node:crypto AES-GCM against Web Crypto", () => {
  it("gives the same ciphertext and tag for the same key, nonce, text and aad", async () => {
    await fc.assert(
      fc.asyncProperty(key, nonce, plaintext, aad, async (k, n, p, a) => {
        const input = { key: k, nonce: n, plaintext: p, aad: a };
        const ours = node.sealWithKeySync(input);
        const theirs = await web.sealWithKey(input);
        expect(ours.ciphertext.toHex()).toBe(theirs.ciphertext.toHex());
        expect(ours.tag.toHex()).toBe(theirs.tag.toHex());
      }),
      { numRuns: 300 },
    );
  });

  it("opens what Web Crypto sealed, and Web Crypto opens what it sealed", async () => {
    await fc.assert(
      fc.asyncProperty(plaintext, aad, async (p, a) => {
        const fromNode = node.sealWithFreshKeySync(p, a);
        expect(await web.open({ ...fromNode, aad: a })).toEqual(p);
        const fromWeb = await web.sealWithFreshKey(p, a);
        expect(node.openSync({ ...fromWeb, aad: a })).toEqual(p);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses, as AuthenticationFailed, a flipped bit in the ciphertext, tag, nonce, key or aad", async () => {
    await fc.assert(
      fc.asyncProperty(
        bytes(1, 256),
        bytes(1, 64),
        fc.nat(),
        fc.constantFrom("ciphertext", "tag", "nonce", "key", "aad"),
        async (p, a, bit, part) => {
          const box = await web.sealWithFreshKey(p, a);
          const input = { key: box.key, nonce: box.nonce, ciphertext: box.ciphertext, tag: box.tag, aad: a };
          const flipped = new Uint8Array(input[part]);
          flipped[Math.floor(bit / 8) % flipped.length]! ^= 1 << (bit % 8);
          expect(() => node.openSync({ ...input, [part]: flipped })).toThrow(node.AuthenticationFailed);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("sealWithFreshKeySync", () => {
  const text = new TextEncoder().encode("attack at dawn");

  it("returns a 256-bit key, a 96-bit nonce, a 128-bit tag and a ciphertext as long as the plaintext", () => {
    const box = node.sealWithFreshKeySync(text);
    expect([box.key.length, box.nonce.length, box.tag.length, box.ciphertext.length]).toEqual([32, 12, 16, text.length]);
  });

  it("never returns the same key or nonce twice in 10,000 seals", () => {
    const keys = new Set<string>();
    const nonces = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const box = node.sealWithFreshKeySync(text);
      keys.add(box.key.toHex());
      nonces.add(box.nonce.toHex());
    }
    expect(keys.size).toBe(10_000);
    expect(nonces.size).toBe(10_000);
  });
});

describe("openSync", () => {
  const text = new TextEncoder().encode("attack at dawn");

  it("throws AuthenticationFailed, and nothing else, for a key, nonce or tag of a refused size", () => {
    const box = node.sealWithFreshKeySync(text);
    for (const broken of [
      { ...box, key: box.key.subarray(0, 20) },
      { ...box, nonce: new Uint8Array(0) },
      { ...box, nonce: new Uint8Array(129) },
      { ...box, tag: box.tag.subarray(0, 3) },
      { ...box, tag: new Uint8Array(0) },
    ]) {
      expect(() => node.openSync(broken)).toThrow(node.AuthenticationFailed);
    }
  });

  it("says nothing in its error beyond 'authentication failed'", () => {
    const box = node.sealWithFreshKeySync(text);
    let caught: unknown;
    try {
      node.openSync({ ...box, aad: new Uint8Array([1]) });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(node.AuthenticationFailed);
    expect(caught instanceof Error ? caught.message : "").toBe("authentication failed");
  });

  it("treats an empty aad as no aad, as GCM defines them to be the same", () => {
    const box = node.sealWithFreshKeySync(text, new Uint8Array(0));
    expect(node.openSync(box)).toEqual(text);
  });
});

describe("sealWithKeySync", () => {
  it("refuses the zero-length IV (CVE-2017-7822) and a key of a size AES does not have", () => {
    const plaintext = new Uint8Array(8);
    expect(() => node.sealWithKeySync({ key: new Uint8Array(32), nonce: new Uint8Array(0), plaintext })).toThrow();
    expect(() => node.sealWithKeySync({ key: new Uint8Array(20), nonce: new Uint8Array(12), plaintext })).toThrow();
  });
});
