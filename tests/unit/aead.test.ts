/** crypto/aead.ts's own promises, beside the Wycheproof vectors (aead-wycheproof.test.ts). */
import { describe, expect, it } from "bun:test";
import { AuthenticationFailed, KEY_BYTES, NONCE_BYTES, open, sealWithFreshKey, TAG_BYTES } from "../../src/crypto/aead.ts";

const text = new TextEncoder().encode("attack at dawn");

describe("sealWithFreshKey", () => {
  it("returns a 256-bit key, a 96-bit nonce, a 128-bit tag and a ciphertext as long as the plaintext", async () => {
    const box = await sealWithFreshKey(text);
    expect([box.key.length, box.nonce.length, box.tag.length, box.ciphertext.length]).toEqual([
      KEY_BYTES,
      NONCE_BYTES,
      TAG_BYTES,
      text.length,
    ]);
    expect([KEY_BYTES, NONCE_BYTES, TAG_BYTES]).toEqual([32, 12, 16]);
  });

  it("seals the empty text to an empty ciphertext with a tag", async () => {
    const box = await sealWithFreshKey(new Uint8Array(0));
    expect(box.ciphertext.length).toBe(0);
    expect(await open(box)).toEqual(new Uint8Array(0));
  });

  it("opens what it sealed, with and without aad", async () => {
    const aad = new TextEncoder().encode("order-42");
    expect(await open(await sealWithFreshKey(text))).toEqual(text);
    expect(await open({ ...(await sealWithFreshKey(text, aad)), aad })).toEqual(text);
  });
});

describe("open", () => {
  it("throws AuthenticationFailed, and nothing else, for a key or nonce Web Crypto refuses", async () => {
    const box = await sealWithFreshKey(text);
    for (const broken of [
      { ...box, key: box.key.subarray(0, 20) },
      { ...box, nonce: new Uint8Array(0) },
      { ...box, tag: box.tag.subarray(0, 3) },
    ]) {
      await expect(open(broken)).rejects.toBeInstanceOf(AuthenticationFailed);
    }
  });

  it("says nothing in its error beyond 'authentication failed'", async () => {
    const box = await sealWithFreshKey(text);
    const error = await open({ ...box, aad: new Uint8Array([1]) }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthenticationFailed);
    expect(error instanceof Error ? error.message : "").toBe("authentication failed");
  });
});
