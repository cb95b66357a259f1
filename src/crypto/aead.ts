/**
 * AES-GCM over Web Crypto, as small pure functions over Uint8Array.
 * The oracle only ever uses AES-256 with a 96-bit nonce and a 128-bit tag; the explicit-key
 * functions accept what Web Crypto accepts so the standard's vectors can be run through them.
 */

/** Bytes backed by a plain ArrayBuffer, which is what Web Crypto accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

export interface SealedBox {
  readonly ciphertext: Bytes;
  readonly tag: Bytes;
  readonly key: Bytes;
  readonly nonce: Bytes;
}

export interface SealInput {
  readonly key: Bytes;
  readonly nonce: Bytes;
  readonly plaintext: Bytes;
  readonly aad?: Bytes | undefined;
}

export interface OpenInput {
  readonly key: Bytes;
  readonly nonce: Bytes;
  readonly ciphertext: Bytes;
  readonly tag: Bytes;
  readonly aad?: Bytes | undefined;
}

/** Thrown when a ciphertext, tag, nonce, key or aad does not authenticate. Says nothing more, by design. */
export class AuthenticationFailed extends Error {
  constructor() {
    super("authentication failed");
    this.name = "AuthenticationFailed";
  }
}

type GcmParams = { name: "AES-GCM"; iv: Bytes; tagLength: number; additionalData?: Bytes };

function gcmParams(nonce: Bytes, aad: Bytes | undefined, tagBytes: number): GcmParams {
  const params: GcmParams = { name: "AES-GCM", iv: nonce, tagLength: tagBytes * 8 };
  if (aad !== undefined) params.additionalData = aad;
  return params;
}

async function importKey(key: Bytes, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", key, "AES-GCM", false, [usage]);
}

/** Encrypts under a caller-chosen key and nonce. Only for vectors and interop tests: the oracle never chooses its own key. */
export async function sealWithKey(input: SealInput, tagBytes = TAG_BYTES): Promise<{ ciphertext: Bytes; tag: Bytes }> {
  const cryptoKey = await importKey(input.key, "encrypt");
  const sealed = new Uint8Array(await crypto.subtle.encrypt(gcmParams(input.nonce, input.aad, tagBytes), cryptoKey, input.plaintext));
  const split = sealed.length - tagBytes;
  return { ciphertext: sealed.subarray(0, split), tag: sealed.subarray(split) };
}

/** Encrypts under a fresh random 256-bit key and 96-bit nonce, both drawn from the CSPRNG in one call. */
export async function sealWithFreshKey(plaintext: Bytes, aad?: Bytes): Promise<SealedBox> {
  const material = crypto.getRandomValues(new Uint8Array(KEY_BYTES + NONCE_BYTES));
  const key = material.subarray(0, KEY_BYTES);
  const nonce = material.subarray(KEY_BYTES);
  const { ciphertext, tag } = await sealWithKey({ key, nonce, plaintext, aad });
  return { ciphertext, tag, key, nonce };
}

/** Decrypts and verifies; any failure, including a key or nonce Web Crypto refuses, is AuthenticationFailed. */
export async function open(input: OpenInput): Promise<Bytes> {
  const tagBytes = input.tag.length;
  try {
    const cryptoKey = await importKey(input.key, "decrypt");
    const joined = new Uint8Array(input.ciphertext.length + tagBytes);
    joined.set(input.ciphertext, 0);
    joined.set(input.tag, input.ciphertext.length);
    return new Uint8Array(await crypto.subtle.decrypt(gcmParams(input.nonce, input.aad, tagBytes), cryptoKey, joined));
  } catch {
    throw new AuthenticationFailed();
  }
}
