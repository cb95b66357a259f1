/**
 * AES-GCM over node:crypto (BoringSSL in Bun), synchronous, for the oracle's hot path. Why it
 * exists: at the service level under load, Web Crypto's promise round trip per call costs more
 * than the cipher itself (docs/benchmarks.md); aead.ts stays as the tests' independent cross-check.
 *
 * Differences from aead.ts, both outside what the oracle uses (AES-256, 96-bit nonce, 128-bit tag):
 * IVs longer than 128 bytes are refused (Bun's node:crypto limit; Web Crypto takes any length),
 * and so is the empty IV, as in aead.ts.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from "node:crypto";
import {
  AuthenticationFailed,
  KEY_BYTES,
  NONCE_BYTES,
  TAG_BYTES,
  type Bytes,
  type OpenInput,
  type SealedBox,
  type SealInput,
} from "./aead.ts";

export { AuthenticationFailed, KEY_BYTES, NONCE_BYTES, TAG_BYTES, type Bytes, type OpenInput, type SealedBox, type SealInput };

function algorithmFor(key: Uint8Array): CipherGCMTypes {
  switch (key.length) {
    case 16:
      return "aes-128-gcm";
    case 24:
      return "aes-192-gcm";
    case 32:
      return "aes-256-gcm";
    default:
      throw new RangeError("AES-GCM key must be 16, 24 or 32 bytes");
  }
}

/**
 * node:crypto's Buffers, typed as Bytes without a copy or a view: they are backed by a plain
 * ArrayBuffer. Not `new Uint8Array(buffer.buffer, ...)`: reading `.buffer` moves a small typed
 * array out of the garbage-collected heap, which measured as a quarter of a seal's cost.
 */
function bytesOf(buffer: Buffer): Bytes {
  return buffer as Uint8Array as Bytes;
}

/** Encrypts under a caller-chosen key and nonce. Only for vectors and interop tests: the oracle never chooses its own key. */
export function sealWithKeySync(input: SealInput, tagBytes = TAG_BYTES): { ciphertext: Bytes; tag: Bytes } {
  const cipher = createCipheriv(algorithmFor(input.key), input.key, input.nonce, { authTagLength: tagBytes });
  if (input.aad !== undefined) cipher.setAAD(input.aad);
  const ciphertext = cipher.update(input.plaintext);
  // GCM is a stream mode: final() never holds back a byte, so update() already returned everything.
  cipher.final();
  return { ciphertext: bytesOf(ciphertext), tag: bytesOf(cipher.getAuthTag()) };
}

/**
 * Encrypts under a fresh random 256-bit key and 96-bit nonce from the CSPRNG. Two draws, not one
 * of 44 bytes split with subarray(): a subarray needs the array's ArrayBuffer, which moves it out
 * of the garbage-collected heap, and that costs more than the second draw (bench/micro.ts).
 */
export function sealWithFreshKeySync(plaintext: Bytes, aad?: Bytes): SealedBox {
  const key = crypto.getRandomValues(new Uint8Array(KEY_BYTES));
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const { ciphertext, tag } = sealWithKeySync({ key, nonce, plaintext, aad });
  return { ciphertext, tag, key, nonce };
}

/** Decrypts and verifies; any failure, including a key, nonce or tag size refused, is AuthenticationFailed. */
export function openSync(input: OpenInput): Bytes {
  try {
    const decipher = createDecipheriv(algorithmFor(input.key), input.key, input.nonce, { authTagLength: input.tag.length });
    decipher.setAuthTag(input.tag);
    if (input.aad !== undefined) decipher.setAAD(input.aad);
    const plaintext = decipher.update(input.ciphertext);
    decipher.final();
    return bytesOf(plaintext);
  } catch {
    throw new AuthenticationFailed();
  }
}
