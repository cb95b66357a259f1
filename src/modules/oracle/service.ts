/** The AES-GCM oracle: seal UTF-8 text under a fresh key, and open what it sealed. No HTTP here. */
import * as webCrypto from "../../crypto/aead.ts";
import * as nodeCrypto from "../../crypto/aead-node.ts";
import { AuthenticationFailed, TAG_BYTES, type Bytes, type OpenInput, type SealedBox } from "../../crypto/aead.ts";
import { decodeUtf8, encodeUtf8, EncodingError, fromBase64 } from "../../crypto/encoding.ts";
import { answerEach } from "../../http/batch.ts";
import { AuthenticationFailedError, InvalidEncoding, InvalidText, PlaintextNotText } from "../../http/errors.ts";
import type { OpenRequest, SealedText, SealItem, SealItemResult } from "./model.ts";

/**
 * The AES-GCM backend, chosen by measurement (README, "Benchmarks"): node:crypto, synchronous,
 * because under load Web Crypto's per-call promise round trip to its worker thread costs several
 * times the cipher. Only `bun run bench` builds a binary with CAAS_AEAD_BACKEND="webcrypto"
 * defined, to repeat that measurement; no setting or variable chooses it at run time.
 */
declare const CAAS_AEAD_BACKEND: string | undefined;
export const AEAD_BACKEND: "node:crypto" | "webcrypto" =
  typeof CAAS_AEAD_BACKEND === "string" && CAAS_AEAD_BACKEND === "webcrypto" ? "webcrypto" : "node:crypto";

const sealWithFreshKey: (plaintext: Bytes, aad?: Bytes) => SealedBox | Promise<SealedBox> =
  AEAD_BACKEND === "webcrypto" ? webCrypto.sealWithFreshKey : nodeCrypto.sealWithFreshKeySync;
const open: (input: OpenInput) => Bytes | Promise<Bytes> = AEAD_BACKEND === "webcrypto" ? webCrypto.open : nodeCrypto.openSync;

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

function answerFor(box: SealedBox): SealedText {
  return {
    data: box.ciphertext.toBase64(),
    key: box.key.toBase64(),
    mac: box.tag.toBase64(),
    nonce: box.nonce.toBase64(),
  };
}

/**
 * Seals `text` (and authenticates `aad`) under a fresh key and nonce. Synchronous with the
 * node:crypto backend, a promise with Web Crypto: callers `await` it either way.
 */
export function sealText(text: string, aad?: string): SealedText | Promise<SealedText> {
  const plaintext = textField("data", text);
  const associated = aad === undefined ? undefined : textField("aad", aad);
  const box = sealWithFreshKey(plaintext, associated);
  return box instanceof Promise ? box.then(answerFor) : answerFor(box);
}

/** Seals every item under its own key, in order; an item that fails gets its error in its place. */
export function sealBatch(items: readonly SealItem[]): SealItemResult[] | Promise<SealItemResult[]> {
  return answerEach(items, (item) => sealText(item.data, item.aad));
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
