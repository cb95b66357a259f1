/** The AES-GCM oracle: seal UTF-8 text under a fresh key, and open what it sealed. No HTTP here. */
import { AuthenticationFailed, open, sealWithFreshKey, TAG_BYTES, type Bytes } from "../../crypto/aead.ts";
import { decodeUtf8, encodeUtf8, EncodingError, fromBase64, toBase64 } from "../../crypto/encoding.ts";
import { AuthenticationFailedError, InvalidEncoding, InvalidText, PlaintextNotText } from "../../http/errors.ts";
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

export async function sealText(text: string, aad?: string): Promise<SealedText> {
  const plaintext = textField("data", text);
  const associated = aad === undefined ? undefined : textField("aad", aad);
  const box = await sealWithFreshKey(plaintext, associated);
  return {
    data: toBase64(box.ciphertext),
    key: toBase64(box.key),
    mac: toBase64(box.tag),
    nonce: toBase64(box.nonce),
  };
}

export async function openText(request: OpenRequest): Promise<string> {
  const ciphertext = base64Field("data", request.data);
  const key = base64Field("key", request.key);
  const tag = base64Field("mac", request.mac);
  const nonce = base64Field("nonce", request.nonce);
  const aad = request.aad === undefined ? undefined : textField("aad", request.aad);
  // Wrong sizes are reported like any other mismatch, so the answer says nothing about which part was wrong.
  if (!ACCEPTED_KEY_BYTES.has(key.length) || !ACCEPTED_NONCE_BYTES.has(nonce.length) || tag.length !== TAG_BYTES) {
    throw new AuthenticationFailedError();
  }
  let plaintext: Bytes;
  try {
    plaintext = await open({ key, nonce, ciphertext, tag, aad });
  } catch (error) {
    if (error instanceof AuthenticationFailed) throw new AuthenticationFailedError();
    throw error;
  }
  try {
    return decodeUtf8(plaintext);
  } catch {
    throw new PlaintextNotText();
  }
}
