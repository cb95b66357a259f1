import { Elysia } from "elysia";
import { commonErrorAnswers, ErrorAnswer } from "../../http/model.ts";
import { OpenedText, OpenRequest, SealedText, SealRequest } from "./model.ts";
import { openText, sealText } from "./service.ts";
import type { JsonBodyParser } from "../../http/json-body.ts";

export function oracleRoutes(parseJson: JsonBodyParser) {
  return new Elysia({ name: "caas.oracle" })
    .post("/oracleinvocation", ({ body }) => sealText(body.data, body.aad), {
      parse: parseJson,
      body: SealRequest,
      response: { 200: SealedText, ...commonErrorAnswers },
      detail: {
        tags: ["oracle"],
        summary: "Encrypt text under a fresh AES-256-GCM key",
        description:
          "Also served at /oracleinvocation/ (the Flask original's README path). Every call draws a new 256-bit key and 96-bit nonce; nothing is stored or logged.",
      },
    })
    .post("/oracleinvocation/decrypt", async ({ body }) => ({ data: await openText(body) }), {
      parse: parseJson,
      body: OpenRequest,
      response: { 200: OpenedText, ...commonErrorAnswers, 400: ErrorAnswer },
      detail: {
        tags: ["oracle"],
        summary: "Decrypt what the oracle sealed",
        description: "A wrong key, tag, nonce or aad gives 400 authentication_failed and nothing more.",
      },
    });
}
