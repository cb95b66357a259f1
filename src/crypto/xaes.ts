/**
 * XAES-256-GCM (C2SP, c2sp.org/XAES-256-GCM): AES-256-GCM with a 192-bit nonce. The first half of
 * the nonce and the key derive a fresh AES-256-GCM key per message (a CMAC-based NIST SP 800-108r1
 * counter KDF, two AES blocks); the second half is the GCM nonce. Random nonces are then safe for
 * about 2^80 messages per key, where AES-GCM's 96-bit random nonces stop at about 2^32.
 *
 * Built on node:crypto's AES: what the spec allows to be cached per key (the ECB cipher and the
 * CMAC subkey K1) is computed once in XaesKey, so a message costs one 32-byte ECB call and one
 * AES-256-GCM seal.
 */
import { type Cipheriv, createCipheriv, createDecipheriv } from "node:crypto";
import { AuthenticationFailed } from "./aead.ts";

export const XAES_KEY_BYTES = 32;
export const XAES_NONCE_BYTES = 24;
export const XAES_TAG_BYTES = 16;

const BLOCK_BYTES = 16;
/** The CMAC doubling constant for 128-bit blocks (NIST SP 800-38B). */
const RB = 0x87;
/** The KDF's label, "X", and its empty context, as the spec fixes them. */
const LABEL_X = 0x58;

/** K1 = L · x in GF(2^128): a one-bit left shift, reduced by RB when the top bit falls off. */
function cmacSubkey(l: Uint8Array): Uint8Array {
  const k1 = new Uint8Array(BLOCK_BYTES);
  for (let i = 0; i < BLOCK_BYTES; i++) k1[i] = ((l[i] ?? 0) << 1) | ((l[i + 1] ?? 0) >>> 7);
  if (((l[0] ?? 0) & 0x80) !== 0) k1[BLOCK_BYTES - 1] = (k1[BLOCK_BYTES - 1] ?? 0) ^ RB;
  return k1;
}

/** The AES-256-GCM key and nonce one XAES message is sealed with. */
export interface DerivedGcm {
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
}

/** One XAES-256-GCM key, with its per-key precomputation done once. */
export class XaesKey {
  /** AES-256 in ECB mode without padding: every update() encrypts whole blocks on their own, so one cipher serves every message. */
  readonly #blocks: Cipheriv;
  readonly #k1: Uint8Array;

  constructor(key: Uint8Array) {
    if (key.length !== XAES_KEY_BYTES) throw new RangeError("an XAES-256-GCM key is 32 bytes");
    this.#blocks = createCipheriv("aes-256-ecb", key, null);
    this.#blocks.setAutoPadding(false);
    this.#k1 = cmacSubkey(this.#blocks.update(new Uint8Array(BLOCK_BYTES)));
  }

  /**
   * Kx = AES(K, M1 ^ K1) || AES(K, M2 ^ K1), with Mi = [0, i] || "X" || 0x00 || N[:12], and
   * Nx = N[12:]. Each Mi is one full block, so CMAC's single-block form is just this XOR.
   */
  derive(nonce: Uint8Array): DerivedGcm {
    if (nonce.length !== XAES_NONCE_BYTES) throw new RangeError("an XAES-256-GCM nonce is 24 bytes");
    const blocks = new Uint8Array(2 * BLOCK_BYTES);
    for (let counter = 1; counter <= 2; counter++) {
      const offset = (counter - 1) * BLOCK_BYTES;
      blocks[offset + 1] = counter;
      blocks[offset + 2] = LABEL_X;
      for (let i = 0; i < 12; i++) blocks[offset + 4 + i] = nonce[i] ?? 0;
      for (let i = 0; i < BLOCK_BYTES; i++) blocks[offset + i] = (blocks[offset + i] ?? 0) ^ (this.#k1[i] ?? 0);
    }
    return { key: this.#blocks.update(blocks), nonce: nonce.slice(12) };
  }

  /** ciphertext || 16-byte tag. */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
    const gcm = this.derive(nonce);
    const cipher = createCipheriv("aes-256-gcm", gcm.key, gcm.nonce, { authTagLength: XAES_TAG_BYTES });
    gcm.key.fill(0);
    if (aad !== undefined) cipher.setAAD(aad);
    const body = cipher.update(plaintext);
    cipher.final();
    const tag = cipher.getAuthTag();
    const sealed = new Uint8Array(body.length + XAES_TAG_BYTES);
    sealed.set(body, 0);
    sealed.set(tag, body.length);
    return sealed;
  }

  /** The plaintext of ciphertext || tag, or AuthenticationFailed for anything that does not authenticate. */
  open(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array {
    if (nonce.length !== XAES_NONCE_BYTES || sealed.length < XAES_TAG_BYTES) throw new AuthenticationFailed();
    const gcm = this.derive(nonce);
    try {
      const decipher = createDecipheriv("aes-256-gcm", gcm.key, gcm.nonce, { authTagLength: XAES_TAG_BYTES });
      decipher.setAuthTag(sealed.subarray(sealed.length - XAES_TAG_BYTES));
      if (aad !== undefined) decipher.setAAD(aad);
      const plaintext = decipher.update(sealed.subarray(0, sealed.length - XAES_TAG_BYTES));
      decipher.final();
      return new Uint8Array(plaintext);
    } catch {
      throw new AuthenticationFailed();
    } finally {
      gcm.key.fill(0);
    }
  }
}

/** A fresh 192-bit nonce from the CSPRNG. */
export function randomXaesNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(XAES_NONCE_BYTES));
}
