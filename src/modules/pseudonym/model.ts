import { t } from "elysia";

const EXAMPLE_USER = "4dbcbcfe-4800-40a8-badf-c26b73af230c";
const EXAMPLE_DIGEST = "35db2f10e244a19686cf929071a80ac7029ad03cff2b7aebff4bac148c7dd32f64cf96c0b4122eb61f4ced1bba6672c1";

/**
 * `apiKey` is declared a plain optional string for clients (OpenAPI, Eden), yet a number, null or
 * empty string there is a 401, not a 400: the key is checked on the raw body before this schema
 * runs (see auth/authenticate.ts), so by the time the schema sees `apiKey` it is the valid key.
 */
const apiKey = t.Optional(
  t.String({
    description: "The API key; may instead come as 'Authorization: Bearer <key>' or 'X-API-Key'. Where several are sent they must be equal.",
    examples: ["caas_3q2-796tvu_erb7v3q2-796tvu_erb7v3q2-796tvu_e"],
  }),
);

/** Any string: the standard profile requires a UUID (400 invalid_uuid), the django-compat one takes anything. */
const userUUID = t.String({
  description: "The user's id: an RFC 9562 UUID, any case (django-compat keys: any string, case-sensitive)",
  examples: [EXAMPLE_USER],
});

const sensitiveData = t.String({ description: "UTF-8 text to pseudonymize; never stored or logged", examples: ["example sensitive data"] });

export const PseudonymRequest = t.Object(
  { apiKey, userUUID, sensitiveData },
  { additionalProperties: false, examples: [{ userUUID: EXAMPLE_USER, sensitiveData: "example sensitive data" }] },
);

export const VerifyRequest = t.Object(
  {
    apiKey,
    userUUID,
    sensitiveData,
    encrypted_data: t.String({ description: "A pseudonym /encrypt returned, in hex (either case)", examples: [EXAMPLE_DIGEST] }),
  },
  { additionalProperties: false },
);

export const PseudonymAnswer = t.Object(
  {
    encrypted_data: t.String({ description: "The pseudonym, lowercase hex", pattern: "^[0-9a-f]+$", examples: [EXAMPLE_DIGEST] }),
    version: t.Integer({
      minimum: 0,
      description: "The server secret version it was made under; 0 for django-compat keys, whose digests use no secret",
      examples: [1],
    }),
  },
  { additionalProperties: false },
);

export const VerifyAnswer = t.Object(
  { match: t.Boolean({ description: "Whether encrypted_data is this user's pseudonym of sensitiveData under any secret version" }) },
  { additionalProperties: false },
);

export type PseudonymRequest = typeof PseudonymRequest.static;
export type VerifyRequest = typeof VerifyRequest.static;
export type PseudonymAnswer = typeof PseudonymAnswer.static;
export type VerifyAnswer = typeof VerifyAnswer.static;
