/**
 * The keyring's signing and MAC operations on one key, once the caller's scope is checked and the
 * key's type found to do the operation (index.ts). No HTTP here.
 */
import type { KeyringEntry } from "../../credentials/keyring.ts";
import { MacKey, type SignatureForm, SigningKey } from "../../credentials/signing-keys.ts";
import { InvalidBody, UnsupportedOperation } from "../../errors.ts";
import type { JwtKey } from "./jwt.ts";
import type { HmacRequest, SignRequest, VerifyRequest } from "./model.ts";
import { dataBytes } from "./service.ts";

/** `entry` as a signing key, or 400 unsupported_operation. */
export function signingKeyOf(entry: KeyringEntry, what: string): SigningKey {
  if (entry instanceof SigningKey) return entry;
  throw new UnsupportedOperation(entry.type, what);
}

export function macKeyOf(entry: KeyringEntry, what: string): MacKey {
  if (entry instanceof MacKey) return entry;
  throw new UnsupportedOperation(entry.type, what);
}

/** A key that verifies or makes JWTs: a signing key or an HMAC key. */
export function jwtKeyOf(entry: KeyringEntry, what: string): JwtKey {
  if (entry instanceof SigningKey || entry instanceof MacKey) return entry;
  throw new UnsupportedOperation(entry.type, what);
}

/** The signature form a request asks for, refused where the option is not the key's algorithm's. */
function formOf(key: SigningKey, request: { readonly format?: "p1363" | "der"; readonly padding?: "pss" | "pkcs1" }): SignatureForm {
  if (request.format !== undefined && key.type !== "ecdsa-p256")
    throw new UnsupportedOperation(key.type, "take a format (ecdsa-p256 keys do)");
  if (request.padding !== undefined && key.type !== "rsa-2048")
    throw new UnsupportedOperation(key.type, "take a padding (rsa-2048 keys do)");
  return {
    ...(request.format === undefined ? {} : { format: request.format }),
    ...(request.padding === undefined ? {} : { padding: request.padding }),
  };
}

export function signWithKey(key: SigningKey, request: SignRequest): { readonly signature: string; readonly version: number } {
  const made = key.sign(dataBytes(request.data, request.encoding), formOf(key, request));
  return { signature: made.value, version: made.version };
}

export function hmacWithKey(key: MacKey, request: HmacRequest): { readonly hmac: string; readonly version: number } {
  const made = key.mac(dataBytes(request.data, request.encoding));
  return { hmac: made.value, version: made.version };
}

/**
 * Whether the signature or MAC is this key's over the data; `checkedUnder` hears the version it
 * names (for the audit line). A string of the wrong shape is 400 invalid_signature, a version
 * retired 400 key_version_retired, one above any held 503 key_version_unknown.
 */
export function verifyWithKey(key: JwtKey, request: VerifyRequest, checkedUnder?: (version: number) => void): { readonly valid: boolean } {
  if ((request.signature === undefined) === (request.hmac === undefined))
    throw new InvalidBody("Give exactly one of 'signature' (a signing key's) and 'hmac' (an hmac-sha256 key's).");
  let result: { readonly valid: boolean; readonly version: number };
  if (key instanceof MacKey) {
    if (request.hmac === undefined) throw new UnsupportedOperation(key.type, "verify a signature (send its MAC as 'hmac')");
    if (request.format !== undefined || request.padding !== undefined) throw new UnsupportedOperation(key.type, "take a format or padding");
    result = key.verify(dataBytes(request.data, request.encoding), request.hmac);
  } else {
    if (request.signature === undefined) throw new UnsupportedOperation(key.type, "verify a MAC (send its signature as 'signature')");
    result = key.verify(dataBytes(request.data, request.encoding), request.signature, formOf(key, request));
  }
  checkedUnder?.(result.version);
  return { valid: result.valid };
}
