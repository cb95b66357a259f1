import { Elysia } from "elysia";
import type { KeyringOperation, KeyringPermission } from "../../credentials/api-keys.ts";
import type { CredentialsHolder } from "../../credentials/holder.ts";
import { cipherOf, type KeyringCipher, type KeyringEntry, observedKey } from "../../credentials/keyring.ts";
import type { Callers } from "../../http/caller.ts";
import type { AuditPlugin } from "../../http/audit.ts";
import { answerEach, assertBatchSize } from "../../http/batch.ts";
import type { JsonBodyParser } from "../../http/json-body.ts";
import type { KeyUseObserver } from "../../http/metrics.ts";
import { API_KEY_REQUIRED, BODY_CODES, errorAnswers, NO_API_KEY, SERVED_CODES } from "../../http/model.ts";
import {
  batchOf,
  DatakeyAnswer,
  DatakeyRequest,
  DecryptRequest,
  HmacAnswer,
  HmacRequest,
  JwksAnswer,
  JwtAnswer,
  JwtRequest,
  JwtVerifyAnswer,
  JwtVerifyRequest,
  PublicKeyAnswer,
  SignAnswer,
  SignRequest,
  VerifyAnswer,
  VerifyRequest,
  EncryptRequest,
  OpenedAnswer,
  resultsOf,
  RewrapRequest,
  SealedAnswer,
} from "./model.ts";
import { datakeyWith, decryptWith, encryptWith, rewrapWith } from "./service.ts";
import { signJwt, verifyJwt } from "./jwt.ts";
import { hmacWithKey, jwtKeyOf, macKeyOf, signingKeyOf, signWithKey, verifyWithKey } from "./signing.ts";
import { SigningKey } from "../../credentials/signing-keys.ts";

export interface KeyringDeps {
  readonly credentials: CredentialsHolder;
  /** Most items in one batch request (config.batchMax). */
  readonly batchMax: number;
  /** The app's audit plugin: each route's operationId names it in the trail; the caller and key are noted. */
  readonly audit: AuditPlugin;
  /** Told each use of a key's version (metrics). */
  readonly keyUse?: KeyUseObserver;
  /** Each request's caller, resolved once (src/http/caller.ts). */
  readonly callers: Callers;
}

/** What every keyring route can refuse: the body, the caller's key and scope, then the keyring key's name (keyringCaller). */
const CALLER_CODES = [...BODY_CODES, ...SERVED_CODES, "unauthorized", "forbidden", "unknown_key", "unsupported_operation"] as const;
const batchErrors = errorAnswers(...CALLER_CODES, "batch_too_large");
/** What checking a caas signature or MAC can fail with, besides the data's own encoding. */
const VERIFY_CODES = ["invalid_signature", "key_version_retired", "key_version_unknown", "invalid_text", "invalid_encoding"] as const;
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

/**
 * Routes whose caller is checked first (401, the one 403, 404), then the key's type (400
 * unsupported_operation from `pick`), all before the body's schema: `key` is what `pick` made.
 */
function callerRoutes<Key>(
  label: string,
  permission: (body: unknown) => KeyringPermission,
  pick: (entry: KeyringEntry) => Key,
  deps: KeyringDeps,
) {
  return new Elysia({ name: `caas.keyring.${label}`, seed: deps.batchMax }).use(deps.audit).derive(({ request, params, body, audit }) => {
    const name = (params as Readonly<Record<string, string | undefined>>).name;
    const found = deps.callers.forKeyring(deps.credentials, { request, name, operation: permission(body), audit });
    return { caller: found.caller, key: pick(found.key) };
  });
}

/** One encryption operation's routes (the single call and, where there is one, its batch). */
function operationRoutes(operation: KeyringOperation, deps: KeyringDeps) {
  return callerRoutes(
    operation,
    (body) => permissionFor(operation, body),
    (entry): KeyringCipher => {
      const key = cipherOf(entry, operation);
      return deps.keyUse === undefined ? key : observedKey(key, deps.keyUse);
    },
    deps,
  );
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
    )
    .use(
      callerRoutes(
        "sign",
        () => "sign",
        (entry) => signingKeyOf(entry, "sign"),
        deps,
      )
        .post(
          "/keyring/:name/sign",
          ({ key, body, audit }) => {
            const answer = signWithKey(key, body);
            audit.note({ keyVersion: answer.version });
            deps.keyUse?.(key.name, answer.version, "sign");
            return answer;
          },
          {
            parse: parseJson,
            body: SignRequest,
            response: { 200: SignAnswer, ...errorAnswers(...CALLER_CODES, "invalid_text", "invalid_encoding") },
            detail: {
              tags,
              security,
              operationId: "keyring.sign",
              summary: "Sign data with the key's active version",
              description:
                "ed25519, ecdsa-p256 (r‖s by default, format der for ASN.1) or rsa-2048 (PSS by default, padding pkcs1 for PKCS#1 v1.5) keys; 400 unsupported_operation for another type. Scope keyring:NAME or keyring:NAME:sign." +
                KEY_NOTE,
            },
          },
        )
        .post(
          "/keyring/:name/sign/batch",
          ({ key, body, audit }) => {
            audit.note({ keyVersion: key.activeVersion });
            return {
              results: answerEach(body.items, (item) => {
                const answer = signWithKey(key, item);
                deps.keyUse?.(key.name, answer.version, "sign");
                return answer;
              }),
            };
          },
          {
            parse: parseJson,
            transform: batchSize,
            body: batchOf(SignRequest, batchMax, { data: "order 42 shipped" }, "KeyringSignBatchRequest"),
            response: { 200: resultsOf(SignAnswer, "KeyringSignBatch"), ...batchErrors },
            detail: { tags, security, operationId: "keyring.sign_batch", summary: "Sign many", description: `${batchNote}${KEY_NOTE}` },
          },
        ),
    )
    .use(
      callerRoutes(
        "hmac",
        () => "sign",
        (entry) => macKeyOf(entry, "make MACs"),
        deps,
      )
        .post(
          "/keyring/:name/hmac",
          ({ key, body, audit }) => {
            const answer = hmacWithKey(key, body);
            audit.note({ keyVersion: answer.version });
            deps.keyUse?.(key.name, answer.version, "hmac");
            return answer;
          },
          {
            parse: parseJson,
            body: HmacRequest,
            response: { 200: HmacAnswer, ...errorAnswers(...CALLER_CODES, "invalid_text", "invalid_encoding") },
            detail: {
              tags,
              security,
              operationId: "keyring.hmac",
              summary: "HMAC-SHA-256 of data under the key's active version",
              description: `hmac-sha256 keys only. Scope keyring:NAME or keyring:NAME:sign.${KEY_NOTE}`,
            },
          },
        )
        .post(
          "/keyring/:name/hmac/batch",
          ({ key, body, audit }) => {
            audit.note({ keyVersion: key.activeVersion });
            return {
              results: answerEach(body.items, (item) => {
                const answer = hmacWithKey(key, item);
                deps.keyUse?.(key.name, answer.version, "hmac");
                return answer;
              }),
            };
          },
          {
            parse: parseJson,
            transform: batchSize,
            body: batchOf(HmacRequest, batchMax, { data: "order 42 shipped" }, "KeyringHmacBatchRequest"),
            response: { 200: resultsOf(HmacAnswer, "KeyringHmacBatch"), ...batchErrors },
            detail: { tags, security, operationId: "keyring.hmac_batch", summary: "MAC many", description: `${batchNote}${KEY_NOTE}` },
          },
        ),
    )
    .use(
      callerRoutes(
        "verify",
        () => "verify",
        (entry) => jwtKeyOf(entry, "verify"),
        deps,
      )
        .post(
          "/keyring/:name/verify",
          ({ key, body, audit }) =>
            verifyWithKey(key, body, (version) => {
              audit.note({ keyVersion: version });
              deps.keyUse?.(key.name, version, "verify");
            }),
          {
            parse: parseJson,
            body: VerifyRequest,
            response: { 200: VerifyAnswer, ...errorAnswers(...CALLER_CODES, ...VERIFY_CODES) },
            detail: {
              tags,
              security,
              operationId: "keyring.verify",
              summary: "Check a caas signature or MAC over data",
              description:
                "valid false for a signature or MAC that is not this key's over this data; 400 invalid_signature for a string that is not caas:v<version>:<base64>, key_version_retired for a version below the minimum; 503 key_version_unknown for a version above any this instance holds. MACs are compared in constant time. Scope keyring:NAME or keyring:NAME:verify." +
                KEY_NOTE,
            },
          },
        )
        .post(
          "/keyring/:name/verify/batch",
          ({ key, body, audit }) => ({
            results: answerEach(body.items, (item) =>
              verifyWithKey(key, item, (version) => {
                audit.note({ batchKeyVersion: version });
                deps.keyUse?.(key.name, version, "verify");
              }),
            ),
          }),
          {
            parse: parseJson,
            transform: batchSize,
            body: batchOf(VerifyRequest, batchMax, { data: "order 42 shipped", signature: "caas:v1:..." }, "KeyringVerifyBatchRequest"),
            response: { 200: resultsOf(VerifyAnswer, "KeyringVerifyBatch"), ...batchErrors },
            detail: { tags, security, operationId: "keyring.verify_batch", summary: "Verify many", description: `${batchNote}${KEY_NOTE}` },
          },
        ),
    )
    .use(
      callerRoutes(
        "jwt",
        () => "sign",
        (entry) => jwtKeyOf(entry, "sign JWTs"),
        deps,
      ).post(
        "/keyring/:name/jwt",
        ({ key, body, audit }) => {
          const signed = signJwt(key, body.claims, body.expires_in);
          audit.note({ keyVersion: signed.version });
          deps.keyUse?.(key.name, signed.version, "jwt");
          return signed;
        },
        {
          parse: parseJson,
          body: JwtRequest,
          response: { 200: JwtAnswer, ...errorAnswers(...CALLER_CODES) },
          detail: {
            tags,
            security,
            operationId: "keyring.jwt",
            summary: "Sign a JWT with the key's active version",
            description:
              "caas writes the header (alg from the key's type: EdDSA, ES256, RS256 or HS256; kid <name>.v<version>; typ JWT), iat (now) and exp (iat + expires_in, 3600 s when absent, at most 30 days); claims holding iat or exp are 400 invalid_body. Scope keyring:NAME or keyring:NAME:sign." +
              KEY_NOTE,
          },
        },
      ),
    )
    .use(
      callerRoutes(
        "jwt-verify",
        () => "verify",
        (entry) => jwtKeyOf(entry, "verify JWTs"),
        deps,
      ).post(
        "/keyring/:name/jwt/verify",
        ({ key, body, audit }) => {
          const verdict = verifyJwt(key, body.token, {
            ...(body.audience === undefined ? {} : { audience: body.audience }),
            ...(body.issuer === undefined ? {} : { issuer: body.issuer }),
            ...(body.leeway === undefined ? {} : { leeway: body.leeway }),
          });
          if (verdict.version !== undefined) {
            audit.note({ keyVersion: verdict.version });
            deps.keyUse?.(key.name, verdict.version, "jwt_verify");
          }
          return verdict.valid
            ? { valid: true as const, claims: verdict.claims, kid: verdict.kid }
            : { valid: false as const, reason: verdict.reason };
        },
        {
          parse: parseJson,
          body: JwtVerifyRequest,
          response: { 200: JwtVerifyAnswer, ...errorAnswers(...CALLER_CODES, "key_version_unknown") },
          detail: {
            tags,
            security,
            operationId: "keyring.jwt_verify",
            summary: "Verify a JWT this key signed",
            description:
              'valid true with the claims and kid, or valid false with a reason: malformed, bad_signature, expired, not_yet_valid, wrong_audience, wrong_issuer, unknown_kid (another key, or a retired version), wrong_alg (alg not the key\'s: "none", HS256 against a signing key). 503 key_version_unknown for a kid naming a version above any this instance holds. Scope keyring:NAME or keyring:NAME:verify.' +
              KEY_NOTE,
          },
        },
      ),
    )
    .use(
      callerRoutes(
        "public-key",
        () => "verify",
        (entry) => signingKeyOf(entry, "have a public key"),
        deps,
      ).get("/keyring/:name/public-key", ({ key }) => ({ name: key.name, type: key.type, versions: [...key.publicVersions()] }), {
        response: {
          200: PublicKeyAnswer,
          ...errorAnswers(...SERVED_CODES, "unauthorized", "forbidden", "unknown_key", "unsupported_operation"),
        },
        detail: {
          tags,
          security,
          operationId: "keyring.public_key",
          summary: "The key's public versions",
          description:
            "Every version that verifies (staged, active, decrypt-only), with its state, as PEM (SubjectPublicKeyInfo) and as a JWK. Signing keys only. Scope keyring:NAME or keyring:NAME:verify." +
            KEY_NOTE,
        },
      }),
    );
}

/** Cache lifetime of the JWKS: a version published staged must be held this long before it is promoted. */
export const JWKS_MAX_AGE_SECONDS = 300;

/**
 * GET /.well-known/jwks.json: every published signing key's versions that verify, for any
 * verifier, without an API key. Not audited (a public key read); rate limited as any request
 * without a key is.
 */
export function jwksRoutes(credentials: CredentialsHolder) {
  return new Elysia({ name: "caas.jwks" }).get(
    "/.well-known/jwks.json",
    ({ set }) => {
      set.headers["cache-control"] = `public, max-age=${JWKS_MAX_AGE_SECONDS}`;
      const keys = credentials.current.keyring.entries.flatMap((entry) =>
        entry instanceof SigningKey && entry.publish ? entry.publicVersions().map((version) => version.jwk) : [],
      );
      return { keys };
    },
    {
      response: { 200: JwksAnswer, ...errorAnswers("rate_limited") },
      detail: {
        tags: ["jwks"],
        security: NO_API_KEY,
        summary: "The JSON Web Key Set of every published signing key",
        description: `Every version that verifies (staged, active, decrypt-only) of each key created with --publish; never an HMAC key, a private member or an unpublished key. Cache-Control: public, max-age=${JWKS_MAX_AGE_SECONDS}.`,
      },
    },
  );
}
