/**
 * What a keyring key is for, by its type: `xaes-256-gcm` encrypts (the type of every key written
 * before types existed, so a file without the field reads as it did), `hmac-sha256` makes and
 * checks MACs, and `ed25519`, `ecdsa-p256` and `rsa-2048` sign and verify. A type is chosen when
 * the key is created and never changes; every version of a key is of its type.
 */
import type { SignatureAlgorithm } from "../crypto/signing.ts";

export const KEY_TYPES = ["xaes-256-gcm", "hmac-sha256", "ed25519", "ecdsa-p256", "rsa-2048"] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = "xaes-256-gcm";

export function isKeyType(text: string): text is KeyType {
  return (KEY_TYPES as readonly string[]).includes(text);
}

export function isSignatureType(type: KeyType): type is SignatureAlgorithm {
  return type === "ed25519" || type === "ecdsa-p256" || type === "rsa-2048";
}

/**
 * How long a verifier may keep GET /.well-known/jwks.json (its Cache-Control max-age): a staged
 * version of a published key must have been served that long before it signs, or a verifier
 * holding the set from before it cannot check the first tokens.
 */
export const JWKS_MAX_AGE_SECONDS = 300;

/** The JWS `alg` (RFC 7518, RFC 8037) a key of this type signs JWTs with; none for an encryption key. */
export const JWT_ALG_OF: Readonly<Record<Exclude<KeyType, "xaes-256-gcm">, string>> = {
  "hmac-sha256": "HS256",
  ed25519: "EdDSA",
  "ecdsa-p256": "ES256",
  "rsa-2048": "RS256",
};
