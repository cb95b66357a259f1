/**
 * Byte/text conversions that refuse to guess. Every decoder here rejects what it cannot
 * represent exactly instead of repairing it: invalid UTF-8 is an error, not U+FFFD, and
 * base64 with whitespace, bad padding or non-alphabet characters is an error, not skipped.
 */

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

export class EncodingError extends Error {
  constructor(readonly kind: "utf8" | "base64" | "hex" | "text") {
    super(`invalid ${kind}`);
    this.name = "EncodingError";
  }
}

/** Decodes UTF-8 strictly: any ill-formed sequence throws. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new EncodingError("utf8");
  }
}

/**
 * Encodes a string as UTF-8. A string holding a lone surrogate has no UTF-8 form:
 * TextEncoder would silently write U+FFFD, so it is refused instead.
 */
export function encodeUtf8(text: string): Uint8Array<ArrayBuffer> {
  if (!text.isWellFormed()) throw new EncodingError("text");
  return utf8Encoder.encode(text);
}

export function toBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

const canonicalBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard padded base64; whitespace, URL-safe letters and sloppy padding are errors. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  if (!canonicalBase64.test(text)) throw new EncodingError("base64");
  try {
    return Uint8Array.fromBase64(text, { lastChunkHandling: "strict" });
  } catch {
    throw new EncodingError("base64");
  }
}

export function toHex(bytes: Uint8Array): string {
  return bytes.toHex();
}

const lowercaseHex = /^(?:[0-9a-f]{2})*$/;

export function fromHex(text: string): Uint8Array<ArrayBuffer> {
  if (!lowercaseHex.test(text)) throw new EncodingError("hex");
  return Uint8Array.fromHex(text);
}
