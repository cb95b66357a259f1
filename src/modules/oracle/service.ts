/**
 * The AES-GCM oracle: seal UTF-8 text under a fresh key, and open what it sealed. No HTTP here.
 *
 * node:crypto, synchronously, by measurement (docs/benchmarks.md): under load Web Crypto's promise
 * round trip per call costs several times the cipher. crypto/aead.ts (Web Crypto) stays as the
 * tests' independent cross-check, and bench/ compares the two.
 */
import { AuthenticationFailed, TAG_BYTES, type Bytes } from "../../crypto/aead.ts";
import { openSync, sealWithFreshKeySync } from "../../crypto/aead-node.ts";
import { decodeUtf8, EncodingError, encodeUtf8, fromBase64 } from "../../crypto/encoding.ts";
import { DecryptionFailed, InvalidEncoding, InvalidText, PlaintextNotText } from "../../errors.ts";
import type { OpenRequest, SealedText } from "./model.ts";

/** Key sizes AES accepts, and nonce sizes: 12 bytes is ours, 16 the Flask original's. */
const ACCEPTED_KEY_BYTES = new Set([16, 24, 32]);
const ACCEPTED_NONCE_BYTES = new Set([12, 16]);

function textField(field: string, text: string): Bytes {
  try {
    return encodeUtf8(text);
  } catch (error) {
    if (error instanceof EncodingError) throw new InvalidText(field);
    throw error;
  }
}

function base64Field(field: string, text: string): Bytes {
  try {
    return fromBase64(text);
  } catch (error) {
    if (error instanceof EncodingError) throw new InvalidEncoding(field, "base64");
    throw error;
  }
}

/** Seals `text` (and authenticates `aad`) under a fresh random 256-bit key and 96-bit nonce. */
export function sealText(text: string, aad?: string): SealedText {
  const plaintext = textField("data", text);
  const box = sealWithFreshKeySync(plaintext, aad === undefined ? undefined : textField("aad", aad));
  return {
    data: box.ciphertext.toBase64(),
    key: box.key.toBase64(),
    mac: box.tag.toBase64(),
    nonce: box.nonce.toBase64(),
  };
}

/** The text an oracle answer holds, or DecryptionFailed for anything that does not authenticate. */
export function openText(request: OpenRequest): string {
  const ciphertext = base64Field("data", request.data);
  const key = base64Field("key", request.key);
  const tag = base64Field("mac", request.mac);
  const nonce = base64Field("nonce", request.nonce);
  const aad = request.aad === undefined ? undefined : textField("aad", request.aad);
  // Wrong sizes are reported like any other mismatch, so the answer says nothing about which part was wrong.
  if (!ACCEPTED_KEY_BYTES.has(key.length) || !ACCEPTED_NONCE_BYTES.has(nonce.length) || tag.length !== TAG_BYTES) {
    throw new DecryptionFailed();
  }
  let plaintext: Bytes;
  try {
    plaintext = openSync({ key, nonce, ciphertext, tag, aad });
  } catch (error) {
    if (error instanceof AuthenticationFailed) throw new DecryptionFailed();
    throw error;
  }
  try {
    return decodeUtf8(plaintext);
  } catch {
    throw new PlaintextNotText();
  }
}
