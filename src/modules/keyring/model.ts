import { Type } from "@sinclair/typebox";
import { t } from "elysia";
import { ErrorAnswer } from "../../http/model.ts";
import { JWT_REASONS } from "./jwt.ts";

const EXAMPLE_CIPHERTEXT = "caas:v3:5cLkY0eqgZ1pP1x0bS8sR7mQvQ2y9Wc3hAqvJ2Yh0rM4kqXb3C1fRg==";

const encoding = t.Optional(
  t.Union([t.Literal("utf8"), t.Literal("base64")], {
    description: "utf8 (default): the data is text; base64: the data is bytes, in standard padded base64",
    examples: ["utf8"],
  }),
);

const aad = t.Optional(
  t.String({
    description: "UTF-8 text authenticated with the ciphertext but not in it; decrypting needs the same. Absent and empty are the same.",
    examples: ["order-42"],
  }),
);

const ciphertext = t.String({
  description: "A caas ciphertext: caas:v<version>:<base64 of nonce, ciphertext and tag>",
  examples: [EXAMPLE_CIPHERTEXT],
});
// TypeBox's own Integer (see pseudonym/model.ts: Elysia's t.Integer is a slow transform).
const version = Type.Integer({ minimum: 1, description: "The key version it was sealed under", examples: [3] });

export const EncryptRequest = t.Object(
  { data: t.String({ description: "Text, or base64 bytes with encoding base64", examples: ["attack at dawn"] }), aad, encoding },
  { additionalProperties: false, title: "KeyringEncryptRequest", examples: [{ data: "attack at dawn" }] },
);
export const DecryptRequest = t.Object(
  { ciphertext, aad, encoding },
  { additionalProperties: false, title: "KeyringDecryptRequest", examples: [{ ciphertext: EXAMPLE_CIPHERTEXT }] },
);
export const RewrapRequest = t.Object(
  { ciphertext, aad },
  { additionalProperties: false, title: "KeyringRewrapRequest", examples: [{ ciphertext: EXAMPLE_CIPHERTEXT }] },
);
export const DatakeyRequest = t.Object(
  { plaintext: t.Optional(t.Boolean({ description: "false: only the wrapped key (GenerateDataKeyWithoutPlaintext); default true" })) },
  { additionalProperties: false, title: "KeyringDatakeyRequest", examples: [{}, { plaintext: false }] },
);

export const SealedAnswer = t.Object({ ciphertext, version }, { additionalProperties: false, title: "KeyringSealedAnswer" });
export const OpenedAnswer = t.Object(
  { data: t.String({ description: "The plaintext: text, or standard base64 with encoding base64" }) },
  { additionalProperties: false, title: "KeyringOpenedAnswer" },
);
export const DatakeyAnswer = t.Object(
  {
    wrapped_key: t.String({
      description: "The data key sealed under this keyring key (decrypt it with encoding base64)",
      examples: [EXAMPLE_CIPHERTEXT],
    }),
    key: t.Optional(t.String({ description: "The 32-byte data key, standard base64; absent with plaintext false" })),
  },
  { additionalProperties: false, title: "KeyringDatakeyAnswer" },
);

export type EncryptRequest = typeof EncryptRequest.static;
export type DecryptRequest = typeof DecryptRequest.static;
export type RewrapRequest = typeof RewrapRequest.static;
export type DatakeyRequest = typeof DatakeyRequest.static;
export type SealedAnswer = typeof SealedAnswer.static;
export type OpenedAnswer = typeof OpenedAnswer.static;
export type DatakeyAnswer = typeof DatakeyAnswer.static;

/** A batch of one operation's requests under one key; a wrongly typed item is 400 for the request, a failing one fails alone. */
export function batchOf<T extends ReturnType<typeof t.Object>>(
  item: T,
  batchMax: number,
  example: Readonly<Record<string, unknown>>,
  title: string,
) {
  return t.Object(
    {
      items: t.Array(item, {
        maxItems: batchMax,
        description: `At most ${batchMax} items (CAAS_BATCH_MAX); an empty list gets an empty list`,
      }),
    },
    { additionalProperties: false, title, examples: [{ items: [example] }] },
  );
}

export function resultsOf<T extends ReturnType<typeof t.Object>>(answer: T, title: string) {
  return t.Object(
    {
      results: t.Array(t.Union([answer, ErrorAnswer]), { description: "One result per item, in order: the answer, or that item's error" }),
    },
    { additionalProperties: false, title },
  );
}

// ---------------------------------------------------------------------------------------------
// Signing and MAC keys.

const EXAMPLE_SIGNATURE = "caas:v2:MEUCIQDh3r2tq8v6Z0Xa1i2dM1sI6Hk3G9p1nq0lV3m6yQKnZwIgZ2o7bqJ4e0U1l9Qb0S8A6m1xX3v5mP2nq7c8d9e0f1g=";
const EXAMPLE_HMAC = "caas:v1:9t8WJ2Zk3mS3bq1m0x5w8E4pL6rT7yU2iO1aS3dF5gH=";
const EXAMPLE_TOKEN = "eyJhbGciOiJFUzI1NiIsImtpZCI6InNlc3Npb25zLnYyIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl";

const signedData = t.String({ description: "Text, or base64 bytes with encoding base64", examples: ["order 42 shipped"] });
const format = t.Optional(
  t.Union([t.Literal("p1363"), t.Literal("der")], {
    description: "ecdsa-p256 keys only: p1363 (default), r‖s in 64 bytes as JWS and Web Crypto use; der, ASN.1 as OpenSSL makes it",
  }),
);
const padding = t.Optional(
  t.Union([t.Literal("pss"), t.Literal("pkcs1")], {
    description: "rsa-2048 keys only: pss (default; SHA-256, MGF1-SHA-256, 32-byte salt) or pkcs1 (PKCS#1 v1.5)",
  }),
);
const signature = t.String({ description: "A caas signature: caas:v<version>:<base64>", examples: [EXAMPLE_SIGNATURE] });
const hmac = t.String({ description: "A caas MAC: caas:v<version>:<base64 of HMAC-SHA-256>", examples: [EXAMPLE_HMAC] });
const signedVersion = Type.Integer({ minimum: 1, description: "The key version that made it", examples: [2] });

export const SignRequest = t.Object(
  { data: signedData, encoding, format, padding },
  { additionalProperties: false, title: "KeyringSignRequest", examples: [{ data: "order 42 shipped" }] },
);
export const SignAnswer = t.Object({ signature, version: signedVersion }, { additionalProperties: false, title: "KeyringSignAnswer" });
export const HmacRequest = t.Object(
  { data: signedData, encoding },
  { additionalProperties: false, title: "KeyringHmacRequest", examples: [{ data: '{"event":"order.shipped"}' }] },
);
export const HmacAnswer = t.Object({ hmac, version: signedVersion }, { additionalProperties: false, title: "KeyringHmacAnswer" });
export const VerifyRequest = t.Object(
  { data: signedData, encoding, signature: t.Optional(signature), hmac: t.Optional(hmac), format, padding },
  {
    additionalProperties: false,
    title: "KeyringVerifyRequest",
    description: "signature for a signing key, hmac for an hmac-sha256 key: exactly one of them",
    examples: [{ data: "order 42 shipped", signature: EXAMPLE_SIGNATURE }],
  },
);
export const VerifyAnswer = t.Object(
  { valid: t.Boolean({ description: "Whether it is this key's, over this data" }) },
  { additionalProperties: false, title: "KeyringVerifyAnswer" },
);

const claims = t.Record(t.String(), t.Unknown(), {
  description: "The token's claims (sub, aud, iss, nbf, anything); iat and exp are caas's own and may not be given",
  examples: [{ sub: "user-42", aud: "api" }],
});
const kid = t.String({ description: "The key version that signed it: <name>.v<version>", examples: ["sessions.v2"] });

export const JwtRequest = t.Object(
  {
    claims,
    expires_in: t.Optional(
      Type.Integer({ minimum: 1, maximum: 2_592_000, description: "Seconds until exp: 1 to 2,592,000 (30 days); 3600 when absent" }),
    ),
  },
  { additionalProperties: false, title: "KeyringJwtRequest", examples: [{ claims: { sub: "user-42" }, expires_in: 900 }] },
);
export const JwtAnswer = t.Object(
  { token: t.String({ description: "The compact JWS", examples: [EXAMPLE_TOKEN] }), kid, version: signedVersion },
  { additionalProperties: false, title: "KeyringJwtAnswer" },
);
export const JwtVerifyRequest = t.Object(
  {
    token: t.String({ description: "A compact JWS", examples: [EXAMPLE_TOKEN] }),
    audience: t.Optional(t.String({ description: "aud must be (or hold) this" })),
    issuer: t.Optional(t.String({ description: "iss must be this" })),
    leeway: t.Optional(
      Type.Integer({ minimum: 0, maximum: 300, description: "Seconds of clock skew allowed on exp and nbf (0 to 300; 0 when absent)" }),
    ),
  },
  { additionalProperties: false, title: "KeyringJwtVerifyRequest", examples: [{ token: EXAMPLE_TOKEN, audience: "api" }] },
);
export const JwtVerifyAnswer = t.Union(
  [
    t.Object(
      { valid: t.Literal(true), claims: t.Record(t.String(), t.Unknown()), kid },
      { additionalProperties: false, title: "KeyringJwtValid" },
    ),
    t.Object(
      {
        valid: t.Literal(false),
        reason: t.UnionEnum(JWT_REASONS, { description: "Why it is refused: a stable string" }),
      },
      { additionalProperties: false, title: "KeyringJwtInvalid" },
    ),
  ],
  { title: "KeyringJwtVerifyAnswer" },
);

const jwk = t.Record(t.String(), t.String(), {
  description: "The public key as a JWK (kty and its public members, kid, alg, use sig); never a private member",
});
export const PublicKeyAnswer = t.Object(
  {
    name: t.String(),
    type: t.Union([t.Literal("ed25519"), t.Literal("ecdsa-p256"), t.Literal("rsa-2048")]),
    versions: t.Array(
      t.Object(
        {
          version: signedVersion,
          state: t.Union([t.Literal("staged"), t.Literal("active"), t.Literal("decrypt-only")], {
            description: "staged: verifies, signs nothing yet; active: signs; decrypt-only: superseded, still verifies",
          }),
          kid,
          pem: t.String({ description: "SubjectPublicKeyInfo, PEM" }),
          jwk,
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, title: "KeyringPublicKeyAnswer" },
);
export const JwksAnswer = t.Object({ keys: t.Array(jwk) }, { additionalProperties: false, title: "Jwks" });

export type SignRequest = typeof SignRequest.static;
export type HmacRequest = typeof HmacRequest.static;
export type VerifyRequest = typeof VerifyRequest.static;
export type JwtRequest = typeof JwtRequest.static;
export type JwtVerifyRequest = typeof JwtVerifyRequest.static;
