import { Elysia } from "elysia";
import { answerEach, assertBatchSize } from "../../http/batch.ts";
import type { JsonBodyParser } from "../../http/json-body.ts";
import { commonErrorAnswers, ErrorAnswer } from "../../http/model.ts";
import { OpenedText, OpenRequest, SealedBatch, SealedText, SealRequest, sealBatchRequest } from "./model.ts";
import { openText, sealText } from "./service.ts";

export interface OracleOptions {
  /** Most items in one batch request (config.batchMax). */
  readonly batchMax: number;
}

export function oracleRoutes(parseJson: JsonBodyParser, { batchMax }: OracleOptions) {
  return new Elysia({ name: "caas.oracle", seed: batchMax })
    .post("/oracleinvocation", ({ body }) => sealText(body.data, body.aad), {
      parse: parseJson,
      body: SealRequest,
      response: { 200: SealedText, ...commonErrorAnswers },
      detail: {
        tags: ["oracle"],
        operationId: "oracle.seal",
        summary: "Encrypt text under a fresh AES-256-GCM key",
        description:
          "Also served at /oracleinvocation/ (the Flask original's README path). Every call draws a new 256-bit key and 96-bit nonce; nothing is stored or logged.",
      },
    })
    .post("/oracleinvocation/batch", ({ body }) => ({ results: answerEach(body.items, (item) => sealText(item.data, item.aad)) }), {
      parse: parseJson,
      transform: ({ body }) => assertBatchSize(body, batchMax),
      body: sealBatchRequest(batchMax),
      response: { 200: SealedBatch, ...commonErrorAnswers },
      detail: {
        tags: ["oracle"],
        operationId: "oracle.seal_batch",
        summary: "Encrypt many texts, each under its own fresh key",
        description: `Up to ${batchMax} items (CAAS_BATCH_MAX; more is 413 batch_too_large). Each item is sealed as POST /oracleinvocation would, under its own key and nonce; results come in the order of items, and an item that fails (say, a lone surrogate in its data) gets {"error":{"code","message"}} in its place while the others are sealed. A wrongly typed item fails the whole request (400 invalid_body).`,
      },
    })
    .post("/oracleinvocation/decrypt", ({ body }) => ({ data: openText(body) }), {
      parse: parseJson,
      body: OpenRequest,
      response: { 200: OpenedText, ...commonErrorAnswers, 400: ErrorAnswer },
      detail: {
        tags: ["oracle"],
        operationId: "oracle.open",
        summary: "Decrypt what the oracle sealed",
        description: "A wrong key, tag, nonce or aad gives 400 authentication_failed and nothing more.",
      },
    });
}
