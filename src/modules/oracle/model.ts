import { t } from "elysia";
import { ErrorAnswer } from "../../http/model.ts";
import { unknownFieldRule } from "../../http/unknown-fields.ts";

const base64 = (description: string, example: string) =>
  t.String({ description: `${description} (standard padded base64)`, examples: [example] });

const wrapWith = t.Optional(
  t.String({
    description:
      "Envelope mode: the keyring key to wrap the data key under; the answer then has wrapped_key and no key. Needs an API key (header) with scope keyring:NAME or keyring:NAME:datakey",
    maxLength: 64,
    examples: ["orders"],
  }),
);

const sealData = t.String({ description: "UTF-8 text to encrypt", examples: ["attack at dawn"] });
const sealAad = t.Optional(t.String({ description: "UTF-8 text to authenticate but not encrypt; not returned", examples: ["order-42"] }));

/**
 * Other fields are let through the schema, as the Flask original ignored them; the route then
 * refuses those it cannot safely ignore (SEAL_UNKNOWN_FIELDS).
 */
export const SealRequest = t.Object(
  { data: sealData, aad: sealAad, wrap_with: wrapWith },
  {
    additionalProperties: true,
    title: "SealRequest",
    description:
      "Other fields are ignored, as the Flask original ignored them, except: beside aad or wrap_with (options the original did not have) every field must be one of these; and a field whose name looks like aad or wrap_with (case and punctuation aside: holding its name, or 'wrap' or 'envelope', or within a third of its length in edits) is refused. Either is 400 invalid_body.",
    examples: [{ data: "attack at dawn" }],
  },
);

/** aad and wrap_with are caas's: a body with one is strict, and a field that looks like one is refused, never dropped. */
export const SEAL_UNKNOWN_FIELDS = unknownFieldRule(Object.keys(SealRequest.properties), [
  { name: "aad" },
  { name: "wrap_with", stems: ["wrap", "envelope"] },
]);

/** One item of a batch: no envelope mode there, each item is sealed under its own key returned in clear. */
const SealItem = t.Object({ data: sealData, aad: sealAad }, { additionalProperties: false, title: "SealItem" });

export const SealedText = t.Object(
  {
    data: base64("Ciphertext without the tag", "c2VjcmV0IGJ5dGVz"),
    key: base64("Fresh random AES-256 key", "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k="),
    mac: base64("128-bit GCM authentication tag", "3q2+796tvu/erb7v3q2+7w=="),
    nonce: base64("Fresh random 96-bit nonce", "AAECAwQFBgcICQoL"),
  },
  { additionalProperties: false, title: "SealedText" },
);

/** The oracle's answer in envelope mode: the data key only wrapped under a keyring key. */
export const EnvelopeSealedText = t.Object(
  {
    data: base64("Ciphertext without the tag", "c2VjcmV0IGJ5dGVz"),
    wrapped_key: t.String({
      description: "The fresh AES-256 key, sealed under the keyring key named in wrap_with (a caas ciphertext)",
      examples: ["caas:v1:..."],
    }),
    mac: base64("128-bit GCM authentication tag", "3q2+796tvu/erb7v3q2+7w=="),
    nonce: base64("Fresh random 96-bit nonce", "AAECAwQFBgcICQoL"),
  },
  { additionalProperties: false, title: "EnvelopeSealedText" },
);

export const OracleAnswer = t.Union([SealedText, EnvelopeSealedText], { title: "OracleAnswer" });

/**
 * `key` is declared optional so that envelope mode can send `wrapped_key` (with `wrap_with`) in
 * its place; exactly one of the two is required, checked by the service with the schema's words.
 */
export const OpenRequest = t.Object(
  {
    data: base64("Ciphertext without the tag", "c2VjcmV0IGJ5dGVz"),
    key: t.Optional(base64("The key the oracle returned (16, 24 or 32 bytes)", "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=")),
    wrapped_key: t.Optional(
      t.String({
        description:
          "Envelope mode, in place of key: the wrapped_key the oracle returned; needs wrap_with and an API key with scope keyring:NAME or keyring:NAME:decrypt",
      }),
    ),
    wrap_with: wrapWith,
    mac: base64("128-bit tag", "3q2+796tvu/erb7v3q2+7w=="),
    nonce: base64("Nonce (12 bytes; 16 for the Flask original's ciphertexts)", "AAECAwQFBgcICQoL"),
    aad: t.Optional(t.String({ description: "The aad given when sealing, if any" })),
  },
  { additionalProperties: false, title: "OpenRequest" },
);

export const OpenedText = t.Object(
  { data: t.String({ description: "The decrypted UTF-8 text" }) },
  { additionalProperties: false, title: "OpenedText" },
);

export type SealRequest = typeof SealRequest.static;
export type SealedText = typeof SealedText.static;
export type EnvelopeSealedText = typeof EnvelopeSealedText.static;
export type OpenRequest = typeof OpenRequest.static;

/**
 * A batch of seal requests. Each item has the single call's shape, checked for the whole batch
 * at once: a wrongly typed item is a client bug, answered 400 `invalid_body` for the request (as
 * a wrongly typed single call is). What depends on the data itself, such as a lone surrogate in
 * one `data`, fails only that item, in its place in `results`.
 */
export function sealBatchRequest(batchMax: number) {
  return t.Object(
    {
      items: t.Array(SealItem, {
        maxItems: batchMax,
        description: `At most ${batchMax} items (CAAS_BATCH_MAX); an empty list gets an empty list`,
      }),
    },
    {
      additionalProperties: false,
      title: "SealBatchRequest",
      examples: [{ items: [{ data: "attack at dawn" }, { data: "retreat at dusk", aad: "order-43" }] }],
    },
  );
}

export const SealedBatch = t.Object(
  {
    results: t.Array(t.Union([SealedText, ErrorAnswer]), {
      description: "One result per item, in the order of `items`: the sealed text, or that item's error (the others are unaffected)",
    }),
  },
  { additionalProperties: false, title: "SealedBatch" },
);

export type SealedBatch = typeof SealedBatch.static;
