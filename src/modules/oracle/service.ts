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
import type { KeyringCipher } from "../../credentials/keyring.ts";
import { DecryptionFailed, InvalidBody, InvalidEncoding, InvalidText, PlaintextNotText } from "../../errors.ts";
import type { EnvelopeSealedText, OpenRequest, SealedText } from "./model.ts";

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

/**
 * Envelope mode: sealText's work, but the fresh data key is returned only sealed under the
 * keyring key `wrapper` (as wrapped_key), so the caller never holds it in clear.
 */
export function sealTextWrapped(text: string, aad: string | undefined, wrapper: KeyringCipher): EnvelopeSealedText {
  const plaintext = textField("data", text);
  const box = sealWithFreshKeySync(plaintext, aad === undefined ? undefined : textField("aad", aad));
  try {
    return {
      data: box.ciphertext.toBase64(),
      wrapped_key: wrapper.seal(box.key).ciphertext,
      mac: box.tag.toBase64(),
      nonce: box.nonce.toBase64(),
    };
  } finally {
    box.key.fill(0);
  }
}

/** Which form of key an open request carries, with the schema's own wording for what is missing. */
export function envelopeOf(request: OpenRequest): { readonly wrapWith: string; readonly wrappedKey: string } | undefined {
  if (request.key !== undefined && request.wrapped_key !== undefined)
    throw new InvalidBody("Send either 'key' or 'wrapped_key', not both.");
  if (request.wrapped_key !== undefined) {
    if (request.wrap_with === undefined) throw new InvalidBody("Field 'wrap_with' is required with 'wrapped_key'.");
    return { wrapWith: request.wrap_with, wrappedKey: request.wrapped_key };
  }
  if (request.key === undefined) throw new InvalidBody("Field 'key' is required.");
  if (request.wrap_with !== undefined) throw new InvalidBody("Field 'wrapped_key' is required with 'wrap_with'.");
  return undefined;
}

function unwrappedKey(unwrapper: KeyringCipher, wrappedKey: string): Bytes {
  return unwrapper.open(wrappedKey, undefined, "wrapped_key").plaintext;
}

/**
 * The text an oracle answer holds, or DecryptionFailed for anything that does not authenticate.
 * In envelope mode `unwrapper` is the keyring key named in wrap_with, which opens wrapped_key.
 */
export function openText(request: OpenRequest, unwrapper?: KeyringCipher): string {
  if (unwrapper === undefined && request.key === undefined) throw new InvalidBody("Field 'key' is required.");
  const ciphertext = base64Field("data", request.data);
  const key = unwrapper === undefined ? base64Field("key", request.key ?? "") : unwrappedKey(unwrapper, request.wrapped_key ?? "");
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
  } finally {
    if (unwrapper !== undefined) key.fill(0);
  }
  try {
    return decodeUtf8(plaintext);
  } catch {
    throw new PlaintextNotText();
  }
}
