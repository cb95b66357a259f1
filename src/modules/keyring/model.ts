import { Type } from "@sinclair/typebox";
import { t } from "elysia";
import { ErrorAnswer } from "../../http/model.ts";

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
