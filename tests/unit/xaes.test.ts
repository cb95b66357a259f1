/**
 * crypto/xaes.ts against the C2SP XAES-256-GCM specification: its two vectors with their
 * intermediates, its accumulated randomized test (10,000 iterations here; CAAS_XAES_ITERATIONS=1000000
 * for the long one), and an independent implementation written here on Web Crypto (AES-CBC with a
 * zero IV as the block cipher, its AES-GCM for the message), which shares no code with ours.
 */
import { describe, expect, it } from "bun:test";
import { shake128 } from "@noble/hashes/sha3.js";
import fc from "fast-check";
import { AuthenticationFailed } from "../../src/crypto/aead.ts";
import { XAES_NONCE_BYTES, XaesKey } from "../../src/crypto/xaes.ts";
import vectors from "../vectors/xaes-256-gcm/vectors.json" with { type: "json" };

const ascii = (text: string) => new TextEncoder().encode(text);
const hex = (text: string) => Uint8Array.fromHex(text);

describe("XAES-256-GCM, the specification's vectors", () => {
  for (const [index, vector] of vectors.vectors.entries()) {
    const key = new XaesKey(hex(vector.key));
    const nonce = ascii(vector.nonce_ascii);
    const aad = vector.aad_ascii === "" ? undefined : ascii(vector.aad_ascii);

    it(`vector ${index + 1}: derives the spec's AES-256-GCM key and nonce`, () => {
      const derived = key.derive(nonce);
      expect(derived.key.toHex()).toBe(vector.Kx);
      expect(derived.nonce.toHex()).toBe(vector.Nx);
    });

    it(`vector ${index + 1}: seals to the spec's ciphertext and opens it`, () => {
      const sealed = key.seal(nonce, ascii(vector.plaintext_ascii), aad);
      expect(sealed.toHex()).toBe(vector.ciphertext);
      expect(new TextDecoder().decode(key.open(nonce, hex(vector.ciphertext), aad))).toBe(vector.plaintext_ascii);
    });
  }
});

/** The spec's deterministic stream: one SHAKE-128 instance over the empty input, read in order. */
class ShakeStream {
  readonly #xof = shake128.create({});
  read(length: number): Uint8Array {
    return this.#xof.xof(length);
  }
}

function accumulated(iterations: number): string {
  const source = new ShakeStream();
  const sink = shake128.create({});
  for (let i = 0; i < iterations; i++) {
    const key = source.read(32);
    const nonce = source.read(24);
    const plaintext = source.read(source.read(1)[0] ?? 0);
    const aad = source.read(source.read(1)[0] ?? 0);
    const xaes = new XaesKey(key);
    const sealed = xaes.seal(nonce, plaintext, aad);
    expect(xaes.open(nonce, sealed, aad)).toEqual(plaintext);
    sink.update(sealed);
  }
  return sink.xof(32).toHex();
}

describe("XAES-256-GCM, the specification's accumulated randomized test", () => {
  it("starts the stream where the spec says", () => {
    expect(new ShakeStream().read(16).toHex()).toBe("7f9c2ba4e88f827d616045507605853e");
  });

  it("reproduces the 10,000-iteration result", () => {
    expect(accumulated(10_000)).toBe(vectors.accumulated.results["10000"]);
  });

  const long = Number(process.env.CAAS_XAES_ITERATIONS ?? "0");
  it.skipIf(long !== 1_000_000)(
    "reproduces the 1,000,000-iteration result (CAAS_XAES_ITERATIONS=1000000)",
    () => {
      expect(accumulated(1_000_000)).toBe(vectors.accumulated.results["1000000"]);
    },
    600_000,
  );
});

/** XAES-256-GCM again, from the spec's text, on Web Crypto alone. */
async function webCryptoXaesSeal(
  key: Uint8Array<ArrayBuffer>,
  nonce: Uint8Array<ArrayBuffer>,
  plaintext: Uint8Array<ArrayBuffer>,
  aad?: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array> {
  const cbcKey = await crypto.subtle.importKey("raw", key, "AES-CBC", false, ["encrypt"]);
  // One block of AES-CBC under a zero IV is one AES block; the padding block after it is dropped.
  const aesBlock = async (block: Uint8Array<ArrayBuffer>) =>
    new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CBC", iv: new Uint8Array(16) }, cbcKey, block)).slice(0, 16);
  const l = await aesBlock(new Uint8Array(16));
  const k1 = new Uint8Array(16);
  let carry = 0;
  for (let i = 15; i >= 0; i--) {
    const byte = l[i] ?? 0;
    k1[i] = ((byte << 1) & 0xff) | carry;
    carry = byte >> 7;
  }
  if (carry === 1) k1[15] = (k1[15] ?? 0) ^ 0x87;
  const m = (counter: number) => {
    const block = new Uint8Array([0, counter, 0x58, 0, ...nonce.slice(0, 12)]);
    return block.map((byte, i) => byte ^ (k1[i] ?? 0));
  };
  const derivedKey = new Uint8Array([...(await aesBlock(m(1))), ...(await aesBlock(m(2)))]);
  const gcmKey = await crypto.subtle.importKey("raw", derivedKey, "AES-GCM", false, ["encrypt"]);
  const params = { name: "AES-GCM", iv: nonce.slice(12), tagLength: 128, ...(aad === undefined ? {} : { additionalData: aad }) };
  return new Uint8Array(await crypto.subtle.encrypt(params, gcmKey, plaintext));
}

const bytes = (minLength: number, maxLength: number) => fc.uint8Array({ minLength, maxLength }).map((array) => new Uint8Array(array));

describe("XAES-256-GCM against an independent Web Crypto implementation", () => {
  it("gives the same ciphertext and tag for random keys, nonces, texts and aad", async () => {
    await fc.assert(
      fc.asyncProperty(
        bytes(32, 32),
        bytes(24, 24),
        bytes(0, 300),
        fc.option(bytes(0, 64), { nil: undefined }),
        async (key, nonce, plaintext, aad) => {
          const ours = new XaesKey(key).seal(nonce, plaintext, aad);
          expect(ours.toHex()).toBe((await webCryptoXaesSeal(key, nonce, plaintext, aad)).toHex());
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("XAES-256-GCM refuses what does not authenticate", () => {
  it("a flipped bit anywhere in ciphertext or tag, another nonce, or other aad", () => {
    fc.assert(
      fc.property(bytes(32, 32), bytes(24, 24), bytes(0, 100), bytes(0, 16), fc.nat(), (key, nonce, plaintext, aad, where) => {
        const xaes = new XaesKey(key);
        const sealed = xaes.seal(nonce, plaintext, aad);
        const flipped = sealed.slice();
        const bit = where % (flipped.length * 8);
        flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        expect(() => xaes.open(nonce, flipped, aad)).toThrow(AuthenticationFailed);
        const otherNonce = nonce.slice();
        otherNonce[where % XAES_NONCE_BYTES] = (otherNonce[where % XAES_NONCE_BYTES] ?? 0) ^ 1;
        expect(() => xaes.open(otherNonce, sealed, aad)).toThrow(AuthenticationFailed);
        expect(() => xaes.open(nonce, sealed, new Uint8Array([...aad, 0]))).toThrow(AuthenticationFailed);
      }),
      { numRuns: 300 },
    );
  });

  it("a truncated message or a nonce of the wrong size, without throwing anything else", () => {
    const xaes = new XaesKey(new Uint8Array(32));
    const nonce = new Uint8Array(24);
    const sealed = xaes.seal(nonce, ascii("hello"));
    expect(() => xaes.open(nonce, sealed.slice(0, 15))).toThrow(AuthenticationFailed);
    expect(() => xaes.open(new Uint8Array(12), sealed)).toThrow(AuthenticationFailed);
  });

  it("refuses a key that is not 32 bytes", () => {
    expect(() => new XaesKey(new Uint8Array(16))).toThrow(RangeError);
  });

  it("keeps working after many messages under one key (the cached block cipher holds no state between them)", () => {
    const xaes = new XaesKey(hex(vectors.vectors[0]!.key));
    for (let i = 0; i < 1000; i++) xaes.seal(crypto.getRandomValues(new Uint8Array(24)), ascii(`message ${i}`));
    expect(xaes.seal(ascii(vectors.vectors[0]!.nonce_ascii), ascii(vectors.vectors[0]!.plaintext_ascii)).toHex()).toBe(
      vectors.vectors[0]!.ciphertext,
    );
  });
});
