import { Elysia } from "elysia";
import type { AuditPlugin } from "../../http/audit.ts";
import type { Callers } from "../../http/caller.ts";
import { permits } from "../../credentials/api-keys.ts";
import { ScopeMissing } from "../../errors.ts";
import type { CredentialsHolder } from "../../credentials/holder.ts";
import { answerEach, assertBatchSize } from "../../http/batch.ts";
import type { JsonBodyParser } from "../../http/json-body.ts";
import { API_KEY_REQUIRED, BODY_CODES, errorAnswers, SERVED_CODES } from "../../http/model.ts";
import { PseudonymAnswer, PseudonymBatchAnswer, pseudonymBatchRequest, PseudonymRequest, VerifyAnswer, VerifyRequest } from "./model.ts";
import { PseudonymMemo } from "./profiles/standard.ts";
import { encrypt, verify } from "./service.ts";
import type { Admissions } from "../../http/rate-limit.ts";

export interface PseudonymDeps {
  readonly credentials: CredentialsHolder;
  /** Most items in one batch request (config.batchMax). */
  readonly batchMax: number;
  /** The app's audit plugin: each route's operationId names it in the trail, and the caller's key name is noted. */
  readonly audit: AuditPlugin;
  /** Users per secret version whose derived material is kept (config.pseudonymCacheUsers). */
  readonly cacheUsers: number;
  /** Each request's caller, resolved once (src/http/caller.ts). */
  readonly callers: Callers;
  /** The rate-limit gate's charges; absent when there is no gate. */
  readonly admissions?: Admissions | undefined;
}

const KEY_CODES = ["unauthorized", "forbidden"] as const;

/** How every pseudonym route takes its key, for the document (the body's apiKey is no security scheme OpenAPI has). */
const KEY_NOTE =
  " The API key (scope pseudonym) comes as apiKey in the JSON body (the Django original's way), as Authorization: Bearer, or as X-API-Key; where several are sent they must be equal.";

const encryptOptions = {
  body: PseudonymRequest,
  response: { 200: PseudonymAnswer, ...errorAnswers(...BODY_CODES, ...SERVED_CODES, ...KEY_CODES, "invalid_uuid", "invalid_text") },
} as const;

export function pseudonymRoutes(parseJson: JsonBodyParser, deps: PseudonymDeps) {
  const { batchMax } = deps;
  const memo = new PseudonymMemo(deps.cacheUsers);
  return (
    new Elysia({ name: "caas.pseudonym", seed: batchMax })
      .use(deps.audit)
      /**
       * Authentication runs here, in the transform phase: after the body is parsed (the key may be
       * in it) but before the route's schema is checked, so a request with a bad key is a 401
       * whatever else is wrong with it, and an unauthenticated caller learns nothing about
       * validation. Only body framing (media type, size, UTF-8, JSON) is answered before it: the
       * key cannot be read from a body that cannot be read. Credentials are read once, so a
       * SIGHUP reload mid-request cannot pair one load's key with another's secrets.
       */
      .derive(({ request, body, audit }) => {
        const { apiKeys, secrets } = deps.credentials.current;
        const caller = deps.callers.authenticate(apiKeys, request, body);
        audit.note({ apiKeyName: caller.name });
        // The gate charged this request to its address; a key found in the body takes the charge over.
        deps.admissions?.chargeToKey(request, caller.name);
        // A key for the keyring alone is no key here: 403, still before the body's schema.
        if (!permits(caller, "pseudonym")) throw new ScopeMissing();
        return { caller, keys: { secrets, memo } };
      })
      .post("/encrypt", ({ caller, keys, body }) => encrypt(caller, keys, body), {
        ...encryptOptions,
        parse: parseJson,
        detail: {
          tags: ["pseudonym"],
          operationId: "pseudonym.encrypt",
          security: API_KEY_REQUIRED,
          summary: "The pseudonym of sensitiveData for a user",
          description: `Deterministic: the same key profile, user and data give the same encrypted_data. Also served at /encode (the Django original's code path) and with a trailing slash.${KEY_NOTE}`,
        },
      })
      .post("/encrypt/batch", ({ caller, keys, body }) => ({ results: answerEach(body.items, (item) => encrypt(caller, keys, item)) }), {
        parse: parseJson,
        // After the derive above: a bad key is 401 before the batch is counted or checked.
        transform: ({ body }) => assertBatchSize(body, batchMax),
        body: pseudonymBatchRequest(batchMax),
        response: { 200: PseudonymBatchAnswer, ...errorAnswers(...BODY_CODES, ...SERVED_CODES, ...KEY_CODES, "batch_too_large") },
        detail: {
          tags: ["pseudonym"],
          operationId: "pseudonym.encrypt_batch",
          security: API_KEY_REQUIRED,
          summary: "Many pseudonyms in one call, under one API key",
          description: `Up to ${batchMax} items (CAAS_BATCH_MAX; more is 413 batch_too_large), each answered as POST /encrypt would, in order; an item that fails (say, a userUUID that is not a UUID) gets {"error":{"code","message"}} in its place while the others are answered. One API key for the whole batch, in the body or a header; a wrongly typed item fails the whole request (400 invalid_body).${KEY_NOTE}`,
        },
      })
      .post("/encode", ({ caller, keys, body }) => encrypt(caller, keys, body), {
        ...encryptOptions,
        parse: parseJson,
        detail: {
          tags: ["pseudonym"],
          operationId: "pseudonym.encode",
          security: API_KEY_REQUIRED,
          summary: "Same as /encrypt (the Django original's code path)",
          description: `Also served with a trailing slash.${KEY_NOTE}`,
        },
      })
      .post(
        "/verify",
        ({ caller, keys, body }) => ({
          match: verify(caller, keys, body),
        }),
        {
          parse: parseJson,
          body: VerifyRequest,
          response: {
            200: VerifyAnswer,
            ...errorAnswers(
              ...BODY_CODES,
              ...SERVED_CODES,
              ...KEY_CODES,
              "invalid_uuid",
              "invalid_text",
              "secret_version_retired",
              "secret_version_unknown",
            ),
          },
          detail: {
            tags: ["pseudonym"],
            operationId: "pseudonym.verify",
            security: API_KEY_REQUIRED,
            summary: "Whether encrypted_data is this user's pseudonym of sensitiveData",
            description: `Compared in constant time against every secret version that verifies (staged ones included), so pseudonyms made before a rotation still match; with \`version\`, against that version alone, and a version this instance has not loaded is 503 secret_version_unknown with Retry-After.${KEY_NOTE}`,
          },
        },
      )
  );
}
