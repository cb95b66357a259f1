/**
 * JWTs (RFC 7519) signed and verified by a keyring key, on node:crypto through the key itself:
 * compact JWS only, the header written by caas alone (`alg` from the key's type, `kid`
 * `<name>.v<version>`, `typ` JWT), `iat` from caas's clock and `exp` from `expires_in`.
 *
 * Verifying never throws on what a token holds: every way a token can be wrong is
 * `{"valid": false, "reason"}` with a stable reason. The one exception is a kid naming a version
 * above any this instance holds: that is 503 key_version_unknown (another instance, or this one
 * after its next reload, can answer), as for ciphertexts.
 */
import { decodeUtf8, encodeUtf8 } from "../../crypto/encoding.ts";
import type { MacKey, SigningKey } from "../../credentials/signing-keys.ts";
import { kidOf, parseKid } from "../../credentials/signing-keys.ts";
import { parseVersion } from "../../credentials/versioned-key.ts";
import { InvalidBody, InvalidText } from "../../errors.ts";

/** A key that makes JWTs: a signing key or an HMAC key. */
export type JwtKey = SigningKey | MacKey;

export const JWT_REASONS = [
  "malformed",
  "bad_signature",
  "expired",
  "not_yet_valid",
  "wrong_audience",
  "wrong_issuer",
  "unknown_kid",
  "wrong_alg",
] as const;
export type JwtReason = (typeof JWT_REASONS)[number];

/** The longest lifetime a token may be given: 30 days. */
export const MAX_EXPIRES_IN = 30 * 24 * 3600;
export const DEFAULT_EXPIRES_IN = 3600;
/** The most clock skew a verifier may allow: 5 minutes. */
export const MAX_LEEWAY = 300;
/** Claims caas writes itself; a caller's own are refused rather than silently replaced. */
const CAAS_CLAIMS = ["iat", "exp"] as const;

export type Claims = Readonly<Record<string, unknown>>;

function base64url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Canonical unpadded base64url only: anything that would not encode back to itself is refused. */
function fromBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(text, { alphabet: "base64url", lastChunkHandling: "loose" });
  } catch {
    return undefined;
  }
  return base64url(bytes) === text ? bytes : undefined;
}

function jsonObjectOf(part: string): Record<string, unknown> | undefined {
  const bytes = fromBase64url(part);
  if (bytes === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(decodeUtf8(bytes));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export interface SignedJwt {
  readonly token: string;
  readonly kid: string;
  readonly version: number;
}

const isString = (value: unknown): boolean => typeof value === "string";
const isNumericDate = (value: unknown): boolean => typeof value === "number" && Number.isFinite(value);

/** RFC 7519 §4.1's registered claims a caller may give, with the type every verifier reads them as. */
const REGISTERED_CLAIMS: Readonly<Record<string, { readonly is: (value: unknown) => boolean; readonly type: string }>> = {
  iss: { is: isString, type: "a string" },
  sub: { is: isString, type: "a string" },
  jti: { is: isString, type: "a string" },
  aud: { is: (value) => isString(value) || (Array.isArray(value) && value.every(isString)), type: "a string or an array of strings" },
  nbf: { is: isNumericDate, type: "a NumericDate (seconds since the epoch)" },
};

/**
 * Refuses a value the token would not carry as sent: a number JSON cannot write (1e999 reads as
 * Infinity, which JSON.stringify writes as null) or a lone surrogate (no UTF-8 form). Names no
 * claim: a caller's claim names and values stay out of answers.
 */
function checkClaimValue(value: unknown): void {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new InvalidBody("Field 'claims' holds a number too large for JSON; send it as a string.");
  } else if (typeof value === "string") {
    if (!value.isWellFormed()) throw new InvalidText("claims");
  } else if (Array.isArray(value)) {
    for (const item of value) checkClaimValue(item);
  } else if (typeof value === "object" && value !== null) {
    for (const [name, item] of Object.entries(value)) {
      if (!name.isWellFormed()) throw new InvalidText("claims");
      checkClaimValue(item);
    }
  }
}

/** Claims every verifier reads as sent, caas's jwt/verify included; 400 for any other. */
function checkClaims(claims: Claims): void {
  for (const claim of CAAS_CLAIMS)
    if (Object.hasOwn(claims, claim))
      throw new InvalidBody(`Field 'claims.${claim}' is written by caas (iat now, exp from expires_in); leave it out.`);
  for (const [claim, rule] of Object.entries(REGISTERED_CLAIMS))
    if (Object.hasOwn(claims, claim) && !rule.is(claims[claim])) throw new InvalidBody(`Field 'claims.${claim}' must be ${rule.type}.`);
  checkClaimValue(claims);
}

/** A token of `claims` under the key's active version, valid from now for `expiresIn` seconds. */
export function signJwt(key: JwtKey, claims: Claims, expiresIn: number = DEFAULT_EXPIRES_IN, now: number = Date.now()): SignedJwt {
  checkClaims(claims);
  const iat = Math.floor(now / 1000);
  // Read once: the kid and the signature name the same version even at an activation time.
  const version = key.activeVersion;
  const kid = kidOf(key.name, version);
  const header = base64url(encodeUtf8(JSON.stringify({ alg: key.jwtAlg, kid, typ: "JWT" })));
  const payload = base64url(encodeUtf8(JSON.stringify({ ...claims, iat, exp: iat + expiresIn })));
  const input = `${header}.${payload}`;
  return { token: `${input}.${base64url(key.jwsSign(version, encodeUtf8(input)))}`, kid, version };
}

export interface JwtChecks {
  readonly audience?: string;
  readonly issuer?: string;
  /** Seconds of clock skew allowed on exp and nbf. */
  readonly leeway?: number;
}

export type JwtVerdict =
  | { readonly valid: true; readonly claims: Claims; readonly kid: string; readonly version: number }
  | { readonly valid: false; readonly reason: JwtReason; readonly version?: number };

const invalid = (reason: JwtReason, version?: number): JwtVerdict =>
  version === undefined ? { valid: false, reason } : { valid: false, reason, version };

/** RFC 7519's NumericDate, or absent. */
function isAbsentOrNumericDate(value: unknown): boolean {
  return value === undefined || isNumericDate(value);
}

/**
 * Whether `token` is a JWT this key made and still accepts, and its claims when it is. The
 * header's `alg` must be the key's own (so `none`, and HS256 with a public key as its secret,
 * are wrong_alg), its `kid` one of this key's versions that verifies.
 */
export function verifyJwt(key: JwtKey, token: string, checks: JwtChecks = {}, now: number = Date.now()): JwtVerdict {
  const parts = token.split(".");
  if (parts.length !== 3) return invalid("malformed");
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = jsonObjectOf(headerPart);
  const claims = jsonObjectOf(payloadPart);
  const signature = fromBase64url(signaturePart);
  if (header === undefined || claims === undefined || signature === undefined) return invalid("malformed");
  // RFC 7515 §4.1.11: extensions a verifier does not know must be refused; caas knows none.
  if (typeof header.alg !== "string" || Object.hasOwn(header, "crit")) return invalid("malformed");
  if (header.alg !== key.jwtAlg) return invalid("wrong_alg");
  if (typeof header.kid !== "string") return invalid("unknown_kid");
  const kid = parseKid(header.kid);
  const version = kid === undefined ? undefined : parseVersion(kid.version);
  if (kid === undefined || version === undefined || kid.name !== key.name) return invalid("unknown_kid");
  // Throws KeyVersionUnknown for a version above any held: this instance cannot tell.
  const verified = key.jwsVerify(version, encodeUtf8(`${headerPart}.${payloadPart}`), signature);
  if (verified === undefined) return invalid("unknown_kid");
  if (!verified) return invalid("bad_signature", version);
  if (!isAbsentOrNumericDate(claims.exp) || !isAbsentOrNumericDate(claims.nbf) || !isAbsentOrNumericDate(claims.iat))
    return invalid("malformed", version);
  const seconds = now / 1000;
  const leeway = checks.leeway ?? 0;
  if (typeof claims.exp === "number" && seconds >= claims.exp + leeway) return invalid("expired", version);
  if (typeof claims.nbf === "number" && seconds + leeway < claims.nbf) return invalid("not_yet_valid", version);
  if (checks.audience !== undefined) {
    const aud = claims.aud;
    const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
    if (!audiences.includes(checks.audience)) return invalid("wrong_audience", version);
  }
  if (checks.issuer !== undefined && claims.iss !== checks.issuer) return invalid("wrong_issuer", version);
  return { valid: true, claims, kid: header.kid, version };
}
