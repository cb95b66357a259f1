/** The keyring's routes: what they share is declared once in guard.ts; the JWKS is jwks.ts. */
import { Elysia } from "elysia";
import { answerEach, assertBatchSize } from "../../http/batch.ts";
import type { JsonBodyParser } from "../../http/json-body.ts";
import { errorAnswers, SERVED_CODES } from "../../http/model.ts";
import {
  about,
  batchErrors,
  CALLER_CODES,
  cipherRoutes,
  type KeyringDeps,
  keyUseRoutes,
  type ObjectSchema,
  OPEN_CODES,
  VERIFY_CODES,
} from "./guard.ts";
import {
  batchOf,
  DatakeyAnswer,
  DatakeyRequest,
  DecryptRequest,
  EncryptRequest,
  HmacAnswer,
  HmacRequest,
  JwtAnswer,
  JwtRequest,
  JwtVerifyAnswer,
  JwtVerifyRequest,
  OpenedAnswer,
  PublicKeyAnswer,
  resultsOf,
  RewrapRequest,
  SealedAnswer,
  SignAnswer,
  SignRequest,
  VerifyAnswer,
  VerifyRequest,
} from "./model.ts";
import { datakeyWith, decryptWith, encryptWith, rewrapWith } from "./service.ts";
import { signJwt, verifyJwt } from "./jwt.ts";
import { hmacWithKey, jwtKeyOf, macKeyOf, signingKeyOf, signWithKey, verifyWithKey } from "./signing.ts";

export type { KeyringDeps } from "./guard.ts";
export { jwksRoutes } from "./jwks.ts";

export function keyringRoutes(parseJson: JsonBodyParser, keyringDeps: KeyringDeps) {
  const deps = { ...keyringDeps, parseJson };
  const { batchMax } = deps;
  const batchNote = `Up to ${batchMax} items (CAAS_BATCH_MAX; more is 413 batch_too_large), in order; an item that fails gets {"error":{"code","message"}} in its place while the others are answered.`;
  /** A batch route's options: its size checked before its schema, items of `item`, results of `answer` or an item's error. */
  const batchOptions = <Item extends ObjectSchema, Answer extends ObjectSchema>(
    item: Item,
    example: Readonly<Record<string, unknown>>,
    names: readonly [request: string, answer: string],
    answer: Answer,
  ) => ({
    transform: ({ body }: { body: unknown }) => assertBatchSize(body, batchMax),
    body: batchOf(item, batchMax, example, names[0]),
    response: { 200: resultsOf(answer, names[1]), ...batchErrors },
  });
  const batchAbout = (operationId: string, summary: string) => about(operationId, summary, batchNote);
  return new Elysia({ name: "caas.keyring", seed: batchMax })
    .use(
      cipherRoutes("encrypt", deps)
        .post("/keyring/:name/encrypt", ({ key, body }) => encryptWith(key, body), {
          body: EncryptRequest,
          response: { 200: SealedAnswer, ...errorAnswers(...CALLER_CODES, "invalid_text", "invalid_encoding") },
          detail: about(
            "keyring.encrypt",
            "Encrypt under the key's newest version",
            "XAES-256-GCM with a random 192-bit nonce; the key name, version and aad are authenticated. Scope keyring:NAME or keyring:NAME:encrypt.",
          ),
        })
        .post(
          "/keyring/:name/encrypt/batch",
          ({ key, body, audit }) => {
            audit.note({ keyVersion: key.activeVersion });
            return { results: answerEach(body.items, (item) => encryptWith(key, item)) };
          },
          {
            ...batchOptions(EncryptRequest, { data: "attack at dawn" }, ["KeyringEncryptBatchRequest", "KeyringSealedBatch"], SealedAnswer),
            detail: batchAbout("keyring.encrypt_batch", "Encrypt many"),
          },
        ),
    )
    .use(
      cipherRoutes("decrypt", deps)
        .post("/keyring/:name/decrypt", ({ key, body }) => decryptWith(key, body), {
          body: DecryptRequest,
          response: { 200: OpenedAnswer, ...errorAnswers(...CALLER_CODES, ...OPEN_CODES, "plaintext_not_utf8") },
          detail: about(
            "keyring.decrypt",
            "Decrypt a caas ciphertext of this key",
            "400 invalid_ciphertext (not the format), key_version_retired (below the min decryption version), authentication_failed (anything else that does not open), plaintext_not_utf8 (ask with encoding base64).",
          ),
        })
        .post(
          "/keyring/:name/decrypt/batch",
          ({ key, body, audit }) => {
            audit.versionPerItem();
            return { results: answerEach(body.items, (item) => decryptWith(key, item)) };
          },
          {
            ...batchOptions(
              DecryptRequest,
              { ciphertext: "caas:v1:..." },
              ["KeyringDecryptBatchRequest", "KeyringOpenedBatch"],
              OpenedAnswer,
            ),
            detail: batchAbout("keyring.decrypt_batch", "Decrypt many"),
          },
        ),
    )
    .use(
      cipherRoutes("rewrap", deps)
        .post("/keyring/:name/rewrap", ({ key, body }) => rewrapWith(key, body), {
          body: RewrapRequest,
          response: { 200: SealedAnswer, ...errorAnswers(...CALLER_CODES, ...OPEN_CODES) },
          detail: about(
            "keyring.rewrap",
            "Re-encrypt under the newest version",
            "Same aad; the plaintext never leaves caas. Scope keyring:NAME or keyring:NAME:rewrap.",
          ),
        })
        .post(
          "/keyring/:name/rewrap/batch",
          ({ key, body, audit }) => {
            audit.note({ keyVersion: key.activeVersion });
            return { results: answerEach(body.items, (item) => rewrapWith(key, item)) };
          },
          {
            ...batchOptions(
              RewrapRequest,
              { ciphertext: "caas:v1:..." },
              ["KeyringRewrapBatchRequest", "KeyringSealedBatch"],
              SealedAnswer,
            ),
            detail: batchAbout("keyring.rewrap_batch", "Rewrap many"),
          },
        ),
    )
    .use(
      cipherRoutes("datakey", deps).post(
        "/keyring/:name/datakey",
        ({ key, body, audit }) => {
          audit.note({ keyVersion: key.activeVersion });
          return datakeyWith(key, body);
        },
        {
          body: DatakeyRequest,
          response: { 200: DatakeyAnswer, ...errorAnswers(...CALLER_CODES) },
          detail: about(
            "keyring.datakey",
            "A fresh 256-bit data key, wrapped under this key",
            "For envelope encryption of large data: encrypt locally with key, store wrapped_key beside it, decrypt wrapped_key (encoding base64) to get the key back. plaintext false returns only wrapped_key. Scope keyring:NAME or keyring:NAME:datakey; with plaintext false, keyring:NAME:datakey-wrapped is enough.",
          ),
        },
      ),
    )
    .use(
      keyUseRoutes(
        "sign",
        () => "sign",
        (entry) => signingKeyOf(entry, "sign"),
        deps,
      )
        .post(
          "/keyring/:name/sign",
          ({ key, body, audit }) => {
            const answer = signWithKey(key, body);
            audit.keyUsed(key.name, answer.version, "sign");
            return answer;
          },
          {
            body: SignRequest,
            response: { 200: SignAnswer, ...errorAnswers(...CALLER_CODES, "invalid_text", "invalid_encoding") },
            detail: about(
              "keyring.sign",
              "Sign data with the key's active version",
              "ed25519, ecdsa-p256 (r‖s by default, format der for ASN.1) or rsa-2048 (PSS by default, padding pkcs1 for PKCS#1 v1.5) keys; 400 unsupported_operation for another type. Scope keyring:NAME or keyring:NAME:sign.",
            ),
          },
        )
        .post(
          "/keyring/:name/sign/batch",
          ({ key, body, audit }) => {
            audit.note({ keyVersion: key.activeVersion });
            return {
              results: answerEach(body.items, (item) => {
                const answer = signWithKey(key, item);
                audit.keyUsed(key.name, answer.version, "sign");
                return answer;
              }),
            };
          },
          {
            ...batchOptions(SignRequest, { data: "order 42 shipped" }, ["KeyringSignBatchRequest", "KeyringSignBatch"], SignAnswer),
            detail: batchAbout("keyring.sign_batch", "Sign many"),
          },
        ),
    )
    .use(
      keyUseRoutes(
        "hmac",
        () => "sign",
        (entry) => macKeyOf(entry, "make MACs"),
        deps,
      )
        .post(
          "/keyring/:name/hmac",
          ({ key, body, audit }) => {
            const answer = hmacWithKey(key, body);
            audit.keyUsed(key.name, answer.version, "hmac");
            return answer;
          },
          {
            body: HmacRequest,
            response: { 200: HmacAnswer, ...errorAnswers(...CALLER_CODES, "invalid_text", "invalid_encoding") },
            detail: about(
              "keyring.hmac",
              "HMAC-SHA-256 of data under the key's active version",
              "hmac-sha256 keys only. Scope keyring:NAME or keyring:NAME:sign.",
            ),
          },
        )
        .post(
          "/keyring/:name/hmac/batch",
          ({ key, body, audit }) => {
            audit.note({ keyVersion: key.activeVersion });
            return {
              results: answerEach(body.items, (item) => {
                const answer = hmacWithKey(key, item);
                audit.keyUsed(key.name, answer.version, "hmac");
                return answer;
              }),
            };
          },
          {
            ...batchOptions(HmacRequest, { data: "order 42 shipped" }, ["KeyringHmacBatchRequest", "KeyringHmacBatch"], HmacAnswer),
            detail: batchAbout("keyring.hmac_batch", "MAC many"),
          },
        ),
    )
    .use(
      keyUseRoutes(
        "verify",
        () => "verify",
        (entry) => jwtKeyOf(entry, "verify"),
        deps,
      )
        .post(
          "/keyring/:name/verify",
          ({ key, body, audit }) => verifyWithKey(key, body, (version) => audit.keyUsed(key.name, version, "verify")),
          {
            body: VerifyRequest,
            response: { 200: VerifyAnswer, ...errorAnswers(...CALLER_CODES, ...VERIFY_CODES) },
            detail: about(
              "keyring.verify",
              "Check a caas signature or MAC over data",
              "valid false for a signature or MAC that is not this key's over this data; 400 invalid_signature for a string that is not caas:v<version>:<base64>, key_version_retired for a version below the minimum; 503 key_version_unknown for a version above any this instance holds. MACs are compared in constant time. Scope keyring:NAME or keyring:NAME:verify.",
            ),
          },
        )
        .post(
          "/keyring/:name/verify/batch",
          ({ key, body, audit }) => {
            audit.versionPerItem();
            return {
              results: answerEach(body.items, (item) => verifyWithKey(key, item, (version) => audit.keyUsed(key.name, version, "verify"))),
            };
          },
          {
            ...batchOptions(
              VerifyRequest,
              { data: "order 42 shipped", signature: "caas:v1:..." },
              ["KeyringVerifyBatchRequest", "KeyringVerifyBatch"],
              VerifyAnswer,
            ),
            detail: batchAbout("keyring.verify_batch", "Verify many"),
          },
        ),
    )
    .use(
      keyUseRoutes(
        "jwt",
        () => "sign",
        (entry) => jwtKeyOf(entry, "sign JWTs"),
        deps,
      ).post(
        "/keyring/:name/jwt",
        ({ key, body, audit }) => {
          const signed = signJwt(key, body.claims, body.expires_in);
          audit.keyUsed(key.name, signed.version, "jwt");
          return signed;
        },
        {
          body: JwtRequest,
          response: { 200: JwtAnswer, ...errorAnswers(...CALLER_CODES, "invalid_text") },
          detail: about(
            "keyring.jwt",
            "Sign a JWT with the key's active version",
            "caas writes the header (alg from the key's type: EdDSA, ES256, RS256 or HS256; kid <name>.v<version>; typ JWT), iat (now) and exp (iat + expires_in, 3600 s when absent, at most 30 days). 400 invalid_body for claims holding iat or exp, a registered claim of another type (nbf a number; aud a string or strings; iss, sub, jti strings) or a number JSON cannot write; 400 invalid_text for a lone surrogate. Scope keyring:NAME or keyring:NAME:sign.",
          ),
        },
      ),
    )
    .use(
      keyUseRoutes(
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
          if (verdict.version !== undefined) audit.keyUsed(key.name, verdict.version, "jwt_verify");
          return verdict.valid
            ? { valid: true as const, claims: verdict.claims, kid: verdict.kid }
            : { valid: false as const, reason: verdict.reason };
        },
        {
          body: JwtVerifyRequest,
          response: { 200: JwtVerifyAnswer, ...errorAnswers(...CALLER_CODES, "key_version_unknown") },
          detail: about(
            "keyring.jwt_verify",
            "Verify a JWT this key signed",
            'valid true with the claims and kid, or valid false with a reason: malformed, bad_signature, expired, not_yet_valid, wrong_audience, wrong_issuer, unknown_kid (another key, or a retired version), wrong_alg (alg not the key\'s: "none", HS256 against a signing key). 503 key_version_unknown for a kid naming a version above any this instance holds. Scope keyring:NAME or keyring:NAME:verify.',
          ),
        },
      ),
    )
    .use(
      keyUseRoutes(
        "public-key",
        () => "verify",
        (entry) => signingKeyOf(entry, "have a public key"),
        deps,
      ).get("/keyring/:name/public-key", ({ key }) => ({ name: key.name, type: key.type, versions: [...key.publicVersions()] }), {
        response: {
          200: PublicKeyAnswer,
          ...errorAnswers(...SERVED_CODES, "unauthorized", "forbidden", "unknown_key", "unsupported_operation"),
        },
        detail: about(
          "keyring.public_key",
          "The key's public versions",
          "Every version that verifies (staged, active, decrypt-only), with its state, as PEM (SubjectPublicKeyInfo) and as a JWK. Signing keys only. Scope keyring:NAME or keyring:NAME:verify.",
        ),
      }),
    );
}
