/**
 * The oracle's promises as properties (fast-check), over HTTP through app.handle():
 *   - any Unicode text, with or without aad, comes back unchanged from seal then open;
 *   - one flipped bit anywhere in data, mac, nonce, key or aad makes open answer 400 authentication_failed;
 *   - keys and nonces never repeat (10,000 seals in the service, a few hundred over HTTP).
 * Bits are flipped in the decoded bytes and re-encoded, not in the base64 text (a changed base64
 * letter can be a non-canonical encoding of the same bytes, or not base64 at all).
 */
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { fromBase64, toBase64 } from "../../src/crypto/encoding.ts";
import { sealText } from "../../src/modules/oracle/service.ts";
import { postForJson, testApp } from "./helpers.ts";

const app = testApp();

interface Box {
  readonly data: string;
  readonly key: string;
  readonly mac: string;
  readonly nonce: string;
}

async function seal(text: string, aad: string | undefined): Promise<Box> {
  const { status, json } = await postForJson(app, "/oracleinvocation", aad === undefined ? { data: text } : { data: text, aad });
  expect(status).toBe(200);
  return json as Box;
}

async function openBox(box: Box, aad: string | undefined): Promise<{ status: number; json: unknown }> {
  return postForJson(app, "/oracleinvocation/decrypt", aad === undefined ? box : { ...box, aad });
}

/** Any well-formed text: whole graphemes (combining marks, emoji sequences) or any code points (non-BMP included). */
const anyText = (minLength = 0) =>
  fc.oneof(fc.string({ unit: "grapheme", minLength, maxLength: 200 }), fc.string({ unit: "binary", minLength, maxLength: 200 }));
const anyAad = fc.option(anyText(), { nil: undefined });

function flipBit(bytes: Uint8Array, bit: number): Uint8Array<ArrayBuffer> {
  const flipped = new Uint8Array(bytes);
  const index = Math.floor(bit / 8) % flipped.length;
  flipped[index]! ^= 1 << (bit % 8);
  return flipped;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The aad with one bit flipped in its UTF-8 bytes. When that leaves bytes that are not UTF-8 (so no
 * JSON string could carry them), one of the low 7 bits of a code point is flipped instead, which
 * always gives another valid code point: surrogates and the top of the range come in aligned blocks of 128.
 */
function flipAadBit(aad: string, bit: number): string {
  const bytes = flipBit(new TextEncoder().encode(aad), bit);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    const codePoints = [...aad].map((char) => char.codePointAt(0)!);
    const index = Math.floor(bit / 7) % codePoints.length;
    codePoints[index]! ^= 1 << (bit % 7);
    return String.fromCodePoint(...codePoints);
  }
}

describe("oracle properties", () => {
  it("gives back any Unicode text unchanged, with or without aad (seal, then open)", async () => {
    await fc.assert(
      fc.asyncProperty(anyText(), anyAad, async (text, aad) => {
        const box = await seal(text, aad);
        expect(await openBox(box, aad)).toEqual({ status: 200, json: { data: text } });
      }),
      { numRuns: 400 },
    );
  });

  it("rejects a box with one flipped bit in data, mac, nonce, key or aad: 400 authentication_failed", async () => {
    const failed = { status: 400, json: { error: { code: "authentication_failed", message: expect.any(String) } } };
    await fc.assert(
      fc.asyncProperty(
        anyText(1),
        anyText(1),
        fc.constantFrom("data", "mac", "nonce", "key", "aad"),
        fc.nat(),
        async (text, aad, part, bit) => {
          const box = await seal(text, aad);
          if (part === "aad") {
            const changed = flipAadBit(aad, bit);
            expect(changed).not.toBe(aad);
            expect(await openBox(box, changed)).toEqual(failed);
          } else {
            const changed = toBase64(flipBit(fromBase64(box[part]), bit));
            expect(await openBox({ ...box, [part]: changed }, aad)).toEqual(failed);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("rejects a box opened without the non-empty aad it was sealed with, or with one it was not", async () => {
    const failed = { status: 400, json: { error: { code: "authentication_failed", message: expect.any(String) } } };
    await fc.assert(
      fc.asyncProperty(anyText(), anyText(1), async (text, aad) => {
        expect(await openBox(await seal(text, aad), undefined)).toEqual(failed);
        expect(await openBox(await seal(text, undefined), aad)).toEqual(failed);
      }),
      { numRuns: 100 },
    );
  });

  it("treats an empty aad as no aad, as GCM defines them to be the same", async () => {
    expect(await openBox(await seal("text", ""), undefined)).toEqual({ status: 200, json: { data: "text" } });
    expect(await openBox(await seal("text", undefined), "")).toEqual({ status: 200, json: { data: "text" } });
  });

  it("never returns the same key or nonce twice in 10,000 seals", async () => {
    const keys = new Set<string>();
    const nonces = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const box = await sealText("same text every time");
      keys.add(box.key);
      nonces.add(box.nonce);
    }
    expect(keys.size).toBe(10_000);
    expect(nonces.size).toBe(10_000);
    expect([...keys].every((key) => fromBase64(key).length === 32)).toBe(true);
    expect([...nonces].every((nonce) => fromBase64(nonce).length === 12)).toBe(true);
  });

  it("never returns the same key, nonce or ciphertext twice over HTTP, even for the same text", async () => {
    const boxes = await Promise.all(Array.from({ length: 300 }, () => seal("same text every time", "same aad")));
    expect(new Set(boxes.map((box) => box.key)).size).toBe(300);
    expect(new Set(boxes.map((box) => box.nonce)).size).toBe(300);
    expect(new Set(boxes.map((box) => box.data)).size).toBe(300);
    expect(new Set(boxes.map((box) => box.mac)).size).toBe(300);
  });
});
