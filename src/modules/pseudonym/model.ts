import { Type } from "@sinclair/typebox";
import { t } from "elysia";
import { DIGEST_BYTES } from "../../crypto/hash.ts";
import { ErrorAnswer } from "../../http/model.ts";
import { LONGEST_DJANGO_DIGEST_HEX } from "./profiles/django-compat/digest-length.ts";

const EXAMPLE_USER = "4dbcbcfe-4800-40a8-badf-c26b73af230c";
const EXAMPLE_DIGEST = "35db2f10e244a19686cf929071a80ac7029ad03cff2b7aebff4bac148c7dd32f64cf96c0b4122eb61f4ced1bba6672c1";

/**
 * `apiKey` is declared a plain optional string for clients (OpenAPI, Eden), yet a number, null or
 * empty string there is a 401, not a 400: the key is checked on the raw body before this schema
 * runs (see http/caller.ts), so by the time the schema sees `apiKey` it is the valid key.
 */
const apiKey = t.Optional(
  t.String({
    description:
      "The API key; may instead come as 'Authorization: Bearer <key>' or 'X-API-Key'. Where several are sent they must be equal.",
    examples: ["caas_3q2-796tvu_erb7v3q2-796tvu_erb7v3q2-796tvu_e"],
  }),
);

/** Any string: the standard profile requires a UUID (400 invalid_uuid), the django-compat one takes anything. */
const userUUID = t.String({
  description: "The user's id: an RFC 9562 UUID, any case (django-compat keys: any string, case-sensitive)",
  examples: [EXAMPLE_USER],
});

const sensitiveData = t.String({ description: "UTF-8 text to pseudonymize; never stored or logged", examples: ["example sensitive data"] });

/**
 * Every field here is the Django original's, so another field can be ignored as the original
 * ignored it: none of them is a caas option a misspelling could silently drop.
 */
export const PseudonymRequest = t.Object(
  { apiKey, userUUID, sensitiveData },
  {
    additionalProperties: true,
    title: "PseudonymRequest",
    description: "Other fields are ignored, as the Django original ignored them.",
    examples: [{ userUUID: EXAMPLE_USER, sensitiveData: "example sensitive data" }],
  },
);

/**
 * The longest pseudonym either profile makes, in hex (128: 512-bit digests). /verify refuses a
 * longer encrypted_data before any work: it cannot match, and lower-casing and testing a
 * megabyte of it cost many times what the digest does.
 */
export const LONGEST_DIGEST_HEX = Math.max(2 * Math.max(...Object.values(DIGEST_BYTES)), LONGEST_DJANGO_DIGEST_HEX);

export const VerifyRequest = t.Object(
  {
    apiKey,
    userUUID,
    sensitiveData,
    encrypted_data: t.String({
      description: `A pseudonym /encrypt returned, in hex (either case); at most ${LONGEST_DIGEST_HEX} characters`,
      maxLength: LONGEST_DIGEST_HEX,
      examples: [EXAMPLE_DIGEST],
    }),
    version: t.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 2 ** 31 - 1,
        description:
          "The secret version /encrypt answered with it. Given, only that version is compared, and a version this instance has not loaded is 503 secret_version_unknown rather than a match: false it cannot know",
        examples: [1],
      }),
    ),
  },
  { additionalProperties: false, title: "VerifyRequest" },
);

const encryptedData = t.String({ description: "The pseudonym, lowercase hex", pattern: "^[0-9a-f]+$", examples: [EXAMPLE_DIGEST] });

/** A standard key's answer: the pseudonym and the secret version it was made under. */
export const StandardPseudonymAnswer = t.Object(
  {
    encrypted_data: encryptedData,
    // TypeBox's own Integer: Elysia's t.Integer is a transform that also takes numeric strings (for
    // query strings), which made Elysia run a slow TypeBox Encode over every answer instead of a Check.
    version: Type.Integer({ minimum: 1, description: "The server secret version it was made under", examples: [1] }),
  },
  { additionalProperties: false, title: "StandardPseudonymAnswer" },
);

/**
 * A django-compat key's answer: exactly the original's, with no `version` (its digests use no
 * secret), because a strict client deserializer of the original refuses a field it does not know.
 */
export const DjangoPseudonymAnswer = t.Object(
  { encrypted_data: encryptedData },
  {
    additionalProperties: false,
    title: "DjangoPseudonymAnswer",
    description: "Under a django-compat key: the Django original's answer, field for field",
  },
);

export const PseudonymAnswer = t.Union([StandardPseudonymAnswer, DjangoPseudonymAnswer], { title: "PseudonymAnswer" });

export const VerifyAnswer = t.Object(
  { match: t.Boolean({ description: "Whether encrypted_data is this user's pseudonym of sensitiveData under any secret version" }) },
  { additionalProperties: false, title: "VerifyAnswer" },
);

/**
 * Many pseudonyms for one caller: one API key (in the body or a header) for the whole batch.
 * Items are checked like single calls (a wrongly typed item is 400 for the request); what
 * depends on the data, such as a userUUID that is not a UUID for a standard key, fails only
 * that item, in its place in `results`.
 */
export function pseudonymBatchRequest(batchMax: number) {
  return t.Object(
    {
      apiKey,
      items: t.Array(t.Object({ userUUID, sensitiveData }, { additionalProperties: false, title: "PseudonymItem" }), {
        maxItems: batchMax,
        description: `At most ${batchMax} items (CAAS_BATCH_MAX); an empty list gets an empty list`,
      }),
    },
    {
      additionalProperties: false,
      title: "PseudonymBatchRequest",
      examples: [{ items: [{ userUUID: EXAMPLE_USER, sensitiveData: "example sensitive data" }] }],
    },
  );
}

export type PseudonymRequest = typeof PseudonymRequest.static;
export type VerifyRequest = typeof VerifyRequest.static;
export type StandardPseudonymAnswer = typeof StandardPseudonymAnswer.static;
export type DjangoPseudonymAnswer = typeof DjangoPseudonymAnswer.static;
export type PseudonymAnswer = typeof PseudonymAnswer.static;

export const PseudonymBatchAnswer = t.Object(
  {
    results: t.Array(t.Union([StandardPseudonymAnswer, DjangoPseudonymAnswer, ErrorAnswer]), {
      description: "One result per item, in the order of `items`: the pseudonym, or that item's error (the others are unaffected)",
    }),
  },
  { additionalProperties: false, title: "PseudonymBatchAnswer" },
);
export type VerifyAnswer = typeof VerifyAnswer.static;
