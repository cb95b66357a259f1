import { Elysia } from "elysia";
import type { KeyringOperation, KeyringPermission } from "../../credentials/api-keys.ts";
import type { CredentialsHolder } from "../../credentials/holder.ts";
import { observedKey } from "../../credentials/keyring.ts";
import { keyringCaller } from "../../http/authenticate.ts";
import type { AuditPlugin } from "../../http/audit.ts";
import { answerEach, assertBatchSize } from "../../http/batch.ts";
import type { JsonBodyParser } from "../../http/json-body.ts";
import type { KeyUseObserver } from "../../http/metrics.ts";
import type { Admissions } from "../../http/rate-limit.ts";
import { API_KEY_REQUIRED, BODY_CODES, errorAnswers, SERVED_CODES } from "../../http/model.ts";
import {
  batchOf,
  DatakeyAnswer,
  DatakeyRequest,
  DecryptRequest,
  EncryptRequest,
  OpenedAnswer,
  resultsOf,
  RewrapRequest,
  SealedAnswer,
} from "./model.ts";
import { datakeyWith, decryptWith, encryptWith, rewrapWith } from "./service.ts";

export interface KeyringDeps {
  readonly credentials: CredentialsHolder;
  /** Most items in one batch request (config.batchMax). */
  readonly batchMax: number;
  /** The app's audit plugin: each route's operationId names it in the trail; the caller and key are noted. */
  readonly audit: AuditPlugin;
  /** Told each use of a key's version (metrics). */
  readonly keyUse?: KeyUseObserver;
  /** What the rate-limit gate found of each request (the header key, looked up); absent when there is no gate. */
  readonly admissions?: Admissions;
}

/** What every keyring route can refuse: the body, the caller's key and scope, then the keyring key's name (keyringCaller). */
const CALLER_CODES = [...BODY_CODES, ...SERVED_CODES, "unauthorized", "forbidden", "unknown_key"] as const;
const batchErrors = errorAnswers(...CALLER_CODES, "batch_too_large");
/** What opening a caas ciphertext can fail with (KeyringKey.open), besides a lone surrogate in aad. */
const OPEN_CODES = ["invalid_ciphertext", "key_version_retired", "authentication_failed", "invalid_text"] as const;

/**
 * What a request of `operation` asks the caller's scope for: a datakey request whose body, as
 * sent, says {"plaintext": false} needs only datakey-wrapped. Read before the schema, like the
 * scope itself, so any other body (plaintext true, absent or mistyped) needs datakey in full.
 */
function permissionFor(operation: KeyringOperation, body: unknown): KeyringPermission {
  if (operation !== "datakey" || typeof body !== "object" || body === null) return operation;
  return (body as { readonly plaintext?: unknown }).plaintext === false ? "datakey-wrapped" : operation;
}

/** One operation's routes (the single call and, where there is one, its batch), with the caller checked first. */
function operationRoutes(operation: KeyringOperation, deps: KeyringDeps) {
  return new Elysia({ name: `caas.keyring.${operation}`, seed: deps.batchMax })
    .use(deps.audit)
    .derive(({ request, params, body, audit }) => {
      const name = (params as Readonly<Record<string, string | undefined>>).name;
      const permission = permissionFor(operation, body);
      const found = keyringCaller(deps.credentials, request, name, permission, audit, deps.admissions?.headerCaller(request));
      return deps.keyUse === undefined ? found : { caller: found.caller, key: observedKey(found.key, deps.keyUse) };
    });
}

const tags = ["keyring"];
const security = API_KEY_REQUIRED;
const KEY_NOTE = " The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).";

export function keyringRoutes(parseJson: JsonBodyParser, deps: KeyringDeps) {
  const { batchMax } = deps;
  const batchSize = ({ body }: { body: unknown }) => assertBatchSize(body, batchMax);
  const batchNote = `Up to ${batchMax} items (CAAS_BATCH_MAX; more is 413 batch_too_large), in order; an item that fails gets {"error":{"code","message"}} in its place while the others are answered.`;
  return new Elysia({ name: "caas.keyring", seed: batchMax })
    .use(
      operationRoutes("encrypt", deps)
        .post(
          "/keyring/:name/encrypt",
          ({ key, body, audit }) => {
            const answer = encryptWith(key, body);
            audit.note({ keyVersion: answer.version });
            return answer;
          },
          {
            parse: parseJson,
            body: EncryptRequest,
            response: { 200: SealedAnswer, ...errorAnswers(...CALLER_CODES, "invalid_text", "invalid_encoding") },
            detail: {
              tags,
              security,
              operationId: "keyring.encrypt",
              summary: "Encrypt under the key's newest version",
              description:
                "XAES-256-GCM with a random 192-bit nonce; the key name, version and aad are authenticated. Scope keyring:NAME or keyring:NAME:encrypt." +
                KEY_NOTE,
            },
          },
        )
        .post(
          "/keyring/:name/encrypt/batch",
          ({ key, body, audit }) => {
            audit.note({ keyVersion: key.activeVersion });
            return { results: answerEach(body.items, (item) => encryptWith(key, item)) };
          },
          {
            parse: parseJson,
            transform: batchSize,
            body: batchOf(EncryptRequest, batchMax, { data: "attack at dawn" }, "KeyringEncryptBatchRequest"),
            response: { 200: resultsOf(SealedAnswer, "KeyringSealedBatch"), ...batchErrors },
            detail: {
              tags,
              security,
              operationId: "keyring.encrypt_batch",
              summary: "Encrypt many",
              description: `${batchNote}${KEY_NOTE}`,
            },
          },
        ),
    )
    .use(
      operationRoutes("decrypt", deps)
        .post(
          "/keyring/:name/decrypt",
          ({ key, body, audit }) => decryptWith(key, body, (version) => audit.note({ keyVersion: version })),
          {
            parse: parseJson,
            body: DecryptRequest,
            response: { 200: OpenedAnswer, ...errorAnswers(...CALLER_CODES, ...OPEN_CODES, "plaintext_not_utf8") },
            detail: {
              tags,
              security,
              operationId: "keyring.decrypt",
              summary: "Decrypt a caas ciphertext of this key",
              description:
                "400 invalid_ciphertext (not the format), key_version_retired (below the min decryption version), authentication_failed (anything else that does not open), plaintext_not_utf8 (ask with encoding base64)." +
                KEY_NOTE,
            },
          },
        )
        .post(
          "/keyring/:name/decrypt/batch",
          ({ key, body, audit }) => ({
            results: answerEach(body.items, (item) => decryptWith(key, item, (version) => audit.note({ batchKeyVersion: version }))),
          }),
          {
            parse: parseJson,
            transform: batchSize,
            body: batchOf(DecryptRequest, batchMax, { ciphertext: "caas:v1:..." }, "KeyringDecryptBatchRequest"),
            response: { 200: resultsOf(OpenedAnswer, "KeyringOpenedBatch"), ...batchErrors },
            detail: {
              tags,
              security,
              operationId: "keyring.decrypt_batch",
              summary: "Decrypt many",
              description: `${batchNote}${KEY_NOTE}`,
            },
          },
        ),
    )
    .use(
      operationRoutes("rewrap", deps)
        .post(
          "/keyring/:name/rewrap",
          ({ key, body, audit }) => {
            const answer = rewrapWith(key, body);
            audit.note({ keyVersion: answer.version });
            return answer;
          },
          {
            parse: parseJson,
            body: RewrapRequest,
            response: { 200: SealedAnswer, ...errorAnswers(...CALLER_CODES, ...OPEN_CODES) },
            detail: {
              tags,
              security,
              operationId: "keyring.rewrap",
              summary: "Re-encrypt under the newest version",
              description: `Same aad; the plaintext never leaves caas. Scope keyring:NAME or keyring:NAME:rewrap.${KEY_NOTE}`,
            },
          },
        )
        .post(
          "/keyring/:name/rewrap/batch",
          ({ key, body, audit }) => {
            audit.note({ keyVersion: key.activeVersion });
            return { results: answerEach(body.items, (item) => rewrapWith(key, item)) };
          },
          {
            parse: parseJson,
            transform: batchSize,
            body: batchOf(RewrapRequest, batchMax, { ciphertext: "caas:v1:..." }, "KeyringRewrapBatchRequest"),
            response: { 200: resultsOf(SealedAnswer, "KeyringSealedBatch"), ...batchErrors },
            detail: { tags, security, operationId: "keyring.rewrap_batch", summary: "Rewrap many", description: `${batchNote}${KEY_NOTE}` },
          },
        ),
    )
    .use(
      operationRoutes("datakey", deps).post(
        "/keyring/:name/datakey",
        ({ key, body, audit }) => {
          audit.note({ keyVersion: key.activeVersion });
          return datakeyWith(key, body);
        },
        {
          parse: parseJson,
          body: DatakeyRequest,
          response: { 200: DatakeyAnswer, ...errorAnswers(...CALLER_CODES) },
          detail: {
            tags,
            security,
            operationId: "keyring.datakey",
            summary: "A fresh 256-bit data key, wrapped under this key",
            description:
              "For envelope encryption of large data: encrypt locally with key, store wrapped_key beside it, decrypt wrapped_key (encoding base64) to get the key back. plaintext false returns only wrapped_key. Scope keyring:NAME or keyring:NAME:datakey; with plaintext false, keyring:NAME:datakey-wrapped is enough." +
              KEY_NOTE,
          },
        },
      ),
    );
}
