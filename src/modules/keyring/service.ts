/**
 * The keyring's operations on one key, as the routes call them once the caller's scope is
 * checked and the key found. No HTTP here. Plaintext is bytes inside; text in and out is
 * strict UTF-8 (a plaintext that is not UTF-8, asked for as text, is refused, never repaired).
 */
import { randomBytes } from "node:crypto";
import { decodeUtf8, EncodingError, encodeUtf8, fromBase64 } from "../../crypto/encoding.ts";
import type { KeyringCipher } from "../../credentials/keyring.ts";
import { KEYRING_KEY_BYTES } from "../../credentials/keyring.ts";
import { InvalidEncoding, InvalidText, PlaintextNotText } from "../../errors.ts";
import type { DatakeyAnswer, DatakeyRequest, DecryptRequest, EncryptRequest, OpenedAnswer, RewrapRequest, SealedAnswer } from "./model.ts";

type Encoding = "utf8" | "base64" | undefined;

function textBytes(field: string, text: string): Uint8Array {
  try {
    return encodeUtf8(text);
  } catch (error) {
    if (error instanceof EncodingError) throw new InvalidText(field);
    throw error;
  }
}

function aadBytes(aad: string | undefined): Uint8Array | undefined {
  return aad === undefined ? undefined : textBytes("aad", aad);
}

export function dataBytes(data: string, encoding: Encoding): Uint8Array {
  if (encoding !== "base64") return textBytes("data", data);
  try {
    return fromBase64(data);
  } catch (error) {
    if (error instanceof EncodingError) throw new InvalidEncoding("data", "base64");
    throw error;
  }
}

function dataText(plaintext: Uint8Array, encoding: Encoding): string {
  if (encoding === "base64") return plaintext.toBase64();
  try {
    return decodeUtf8(plaintext);
  } catch {
    throw new PlaintextNotText();
  }
}

export function encryptWith(key: KeyringCipher, request: EncryptRequest): SealedAnswer {
  const plaintext = dataBytes(request.data, request.encoding);
  return key.seal(plaintext, aadBytes(request.aad));
}

export function decryptWith(key: KeyringCipher, request: DecryptRequest): OpenedAnswer {
  const opened = key.open(request.ciphertext, aadBytes(request.aad));
  try {
    return { data: dataText(opened.plaintext, request.encoding) };
  } finally {
    opened.plaintext.fill(0);
  }
}

/** Opens under whichever version sealed it and seals again under the newest, with the same aad; the plaintext stays here. */
export function rewrapWith(key: KeyringCipher, request: RewrapRequest): SealedAnswer {
  const aad = aadBytes(request.aad);
  const opened = key.open(request.ciphertext, aad);
  try {
    return key.seal(opened.plaintext, aad);
  } finally {
    opened.plaintext.fill(0);
  }
}

/** A fresh 256-bit data key, sealed under this key; in clear as well unless asked not to. */
export function datakeyWith(key: KeyringCipher, request: DatakeyRequest): DatakeyAnswer {
  const dataKey = new Uint8Array(randomBytes(KEYRING_KEY_BYTES));
  try {
    const sealed = key.seal(dataKey);
    return request.plaintext === false ? { wrapped_key: sealed.ciphertext } : { wrapped_key: sealed.ciphertext, key: dataKey.toBase64() };
  } finally {
    dataKey.fill(0);
  }
}
