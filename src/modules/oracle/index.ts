import { Elysia } from "elysia";
import { type ApiKeyRecord, permits } from "../../credentials/api-keys.ts";
import type { CredentialsHolder } from "../../credentials/holder.ts";
import { type KeyringCipher, cipherOf, observedKey } from "../../credentials/keyring.ts";
import { ScopeMissing } from "../../errors.ts";
import type { Callers } from "../../http/caller.ts";
import type { AuditPlugin, RequestAudit } from "../../http/audit.ts";
import { answerEach, assertBatchSize } from "../../http/batch.ts";
import type { JsonBodyParser } from "../../http/json-body.ts";
import { API_KEY_OPTIONAL, API_KEY_REQUIRED, BODY_CODES, errorAnswers, NO_API_KEY, SERVED_CODES } from "../../http/model.ts";
import { checkUnknownFields } from "../../http/unknown-fields.ts";
import { OpenedText, OpenRequest, OracleAnswer, SEAL_UNKNOWN_FIELDS, SealedBatch, SealRequest, sealBatchRequest } from "./model.ts";
import { envelopeOf, openText, sealText, sealTextWrapped } from "./service.ts";

export interface OracleOptions {
  /** Most items in one batch request (config.batchMax). */
  readonly batchMax: number;
  /** The app's audit plugin: each route's operationId names it in the trail. */
  readonly audit: AuditPlugin;
  /** CAAS_ORACLE_REQUIRE_KEY: every oracle call needs an API key with scope oracle. */
  readonly requireKey?: boolean;
  /** The API keys and keyring, for envelope mode (wrap_with) and requireKey; none: neither is offered. */
  readonly credentials?: CredentialsHolder;
  /** Each request's caller, resolved once (src/http/caller.ts). */
  readonly callers: Callers;
}

/** The body's wrap_with as sent, before any schema: a string, or undefined (absent or mistyped, which the schema then refuses). */
function wrapWithOf(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null || !Object.hasOwn(body, "wrap_with")) return undefined;
  const value: unknown = (body as { readonly wrap_with?: unknown }).wrap_with;
  return typeof value === "string" ? value : undefined;
}

type OracleCaller = {
  readonly caller: ApiKeyRecord | undefined;
  /** The keyring key wrap_with names, once the caller's scope for it is checked. */
  readonly wrapper: KeyringCipher | undefined;
};

const NO_CALLER: OracleCaller = { caller: undefined, wrapper: undefined };

/**
 * Who calls, when it matters: with wrap_with (envelope mode) or CAAS_ORACLE_REQUIRE_KEY, an API
 * key in a header (401), its scope (403), then the key named (404), all before the body's
 * schema, as on the keyring routes. The caller's key name is noted for the audit trail as soon
 * as it is known, so a 403 says whom it refused. Without either, nothing is looked at: the
 * drop-in oracle.
 */
/** The request an oracle route is asked: its body (where wrap_with is), and its audit facts. */
interface OracleRequest {
  readonly request: Request;
  readonly body?: unknown;
  readonly audit: Pick<RequestAudit, "note" | "keyUsed">;
}

function oracleCaller(options: OracleOptions, { request, body, audit }: OracleRequest, operation: "datakey" | "decrypt"): OracleCaller {
  const wrapWith = wrapWithOf(body);
  const credentials = options.credentials;
  if (credentials === undefined || (options.requireKey !== true && wrapWith === undefined)) return NO_CALLER;
  if (wrapWith !== undefined) {
    const { caller, key } = options.callers.forKeyring(credentials, { request, name: wrapWith, operation, audit });
    if (options.requireKey === true && !permits(caller, "oracle")) throw new ScopeMissing();
    const cipher = cipherOf(key, operation === "datakey" ? "wrap data keys" : "unwrap data keys");
    // Each seal and open under it is a use of the key, which the audit line and the metrics hear of.
    return { caller, wrapper: observedKey(cipher, (name, version, used) => audit.keyUsed(name, version, used)) };
  }
  const caller = options.callers.authenticate(credentials.current.apiKeys, request, undefined);
  audit.note({ apiKeyName: caller.name });
  if (!permits(caller, "oracle")) throw new ScopeMissing();
  return { caller, wrapper: undefined };
}

export function oracleRoutes(parseJson: JsonBodyParser, options: OracleOptions) {
  const { batchMax } = options;
  // What oracleCaller can refuse: with credentials, envelope mode's key checks; with requireKey too, a key on every call.
  const envelope = options.credentials !== undefined;
  const keyed = envelope && options.requireKey === true;
  const keyCodes = keyed ? (["unauthorized", "forbidden"] as const) : [];
  const envelopeCodes = envelope ? (["unauthorized", "forbidden", "unknown_key", "unsupported_operation"] as const) : [];
  const security = keyed ? API_KEY_REQUIRED : envelope ? API_KEY_OPTIONAL : NO_API_KEY;
  const seal = new Elysia({ name: "caas.oracle.seal", seed: batchMax })
    .use(options.audit)
    .derive(({ request, body, audit }) => oracleCaller(options, { request, body, audit }, "datakey"))
    .post(
      "/oracleinvocation",
      ({ body, wrapper, audit }) => {
        if (wrapper === undefined) return sealText(body.data, body.aad);
        // Before the seal, so a failure in it still names the version (the caller check noted the key's name).
        audit.note({ keyVersion: wrapper.activeVersion });
        return sealTextWrapped(body.data, body.aad, wrapper);
      },
      {
        parse: parseJson,
        body: SealRequest,
        beforeHandle: ({ body }) => checkUnknownFields(body, SEAL_UNKNOWN_FIELDS),
        response: { 200: OracleAnswer, ...errorAnswers(...BODY_CODES, ...SERVED_CODES, "invalid_text", ...keyCodes, ...envelopeCodes) },
        detail: {
          tags: ["oracle"],
          operationId: "oracle.seal",
          security,
          summary: "Encrypt text under a fresh AES-256-GCM key",
          description:
            'Also served at /oracleinvocation/ (the Flask original\'s README path). Every call draws a new 256-bit key and 96-bit nonce; nothing is stored or logged. With "wrap_with": NAME (envelope mode; an API key with scope keyring:NAME or keyring:NAME:datakey) the key comes back only as wrapped_key, sealed under keyring key NAME.',
        },
      },
    );
  // Its own derive: a batch has no envelope mode, so a wrap_with in its body is the schema's to
  // refuse (400 invalid_body), never a reason to ask for a key.
  const sealBatch = new Elysia({ name: "caas.oracle.seal-batch", seed: batchMax })
    .use(options.audit)
    .derive(({ request, audit }) => oracleCaller(options, { request, audit }, "datakey"))
    .post("/oracleinvocation/batch", ({ body }) => ({ results: answerEach(body.items, (item) => sealText(item.data, item.aad)) }), {
      parse: parseJson,
      transform: ({ body }) => assertBatchSize(body, batchMax),
      body: sealBatchRequest(batchMax),
      response: { 200: SealedBatch, ...errorAnswers(...BODY_CODES, ...SERVED_CODES, "batch_too_large", ...keyCodes) },
      detail: {
        tags: ["oracle"],
        operationId: "oracle.seal_batch",
        security: keyed ? API_KEY_REQUIRED : NO_API_KEY,
        summary: "Encrypt many texts, each under its own fresh key",
        description: `Up to ${batchMax} items (CAAS_BATCH_MAX; more is 413 batch_too_large). Each item is sealed as POST /oracleinvocation would, under its own key and nonce; results come in the order of items, and an item that fails (say, a lone surrogate in its data) gets {"error":{"code","message"}} in its place while the others are sealed. A wrongly typed item fails the whole request (400 invalid_body).`,
      },
    });
  const open = new Elysia({ name: "caas.oracle.open", seed: batchMax })
    .use(options.audit)
    .derive(({ request, body, audit }) => oracleCaller(options, { request, body, audit }, "decrypt"))
    .post(
      "/oracleinvocation/decrypt",
      // The wrapper reports each open to the audit line and the metrics (observedKey); the caller check noted the key's name.
      ({ body, wrapper }) => ({ data: openText(body, envelopeOf(body) === undefined ? undefined : wrapper) }),
      {
        parse: parseJson,
        body: OpenRequest,
        response: {
          200: OpenedText,
          ...errorAnswers(
            ...BODY_CODES,
            ...SERVED_CODES,
            "invalid_text",
            "invalid_encoding",
            "authentication_failed",
            "plaintext_not_utf8",
            ...keyCodes,
            ...envelopeCodes,
            ...(envelope ? (["invalid_ciphertext", "key_version_retired"] as const) : []),
          ),
        },
        detail: {
          tags: ["oracle"],
          operationId: "oracle.open",
          security,
          summary: "Decrypt what the oracle sealed",
          description:
            'A wrong key, tag, nonce or aad gives 400 authentication_failed and nothing more. Envelope mode: send wrapped_key and "wrap_with": NAME in place of key, with an API key with scope keyring:NAME or keyring:NAME:decrypt.',
        },
      },
    );
  return new Elysia({ name: "caas.oracle", seed: batchMax }).use(seal).use(sealBatch).use(open);
}
