import { Elysia } from "elysia";
import type { ApiKeyProfile, ApiKeyRecord } from "../../auth/api-keys.ts";
import { authenticate } from "../../auth/authenticate.ts";
import type { CredentialsHolder } from "../../credentials.ts";
import { answerEach, assertBatchSize, DEFAULT_BATCH_MAX } from "../../http/batch.ts";
import type { JsonBodyParser } from "../../http/json-body.ts";
import { commonErrorAnswers, ErrorAnswer } from "../../http/model.ts";
import { compatPseudonymFor, verifyCompatPseudonym } from "../compat/profile.ts";
import { PseudonymAnswer, PseudonymBatchAnswer, pseudonymBatchRequest, PseudonymRequest, VerifyAnswer, VerifyRequest } from "./model.ts";
import type { SecretRing } from "./secrets.ts";
import { pseudonymFor, verifyPseudonym } from "./service.ts";
import { chargeToKey } from "../../http/rate-limit.ts";

export interface PseudonymDeps {
  readonly credentials: CredentialsHolder;
  /** Most items in one batch request (config.batchMax). */
  readonly batchMax?: number;
}

/** What each key profile computes. A Record over every profile, so a new profile cannot go unrouted. */
interface ProfileService {
  /** The whole answer: each profile's clients expect their own shape (model.ts). */
  pseudonym(secrets: SecretRing, userId: string, data: string): PseudonymAnswer;
  verify(secrets: SecretRing, userId: string, data: string, digestHex: string): boolean;
}

const PROFILES: Readonly<Record<ApiKeyProfile, ProfileService>> = {
  standard: {
    pseudonym: (secrets, userId, data) => {
      const { digest, version } = pseudonymFor(secrets, userId, data);
      return { encrypted_data: digest, version };
    },
    verify: verifyPseudonym,
  },
  // The original's digests depend on no secret, so the ring is not passed on.
  "django-compat": {
    pseudonym: (_secrets, userId, data) => ({ encrypted_data: compatPseudonymFor(userId, data).digest }),
    verify: (_secrets, userId, data, digestHex) => verifyCompatPseudonym(userId, data, digestHex),
  },
};

function encrypt(caller: ApiKeyRecord, secrets: SecretRing, body: PseudonymRequest): PseudonymAnswer {
  return PROFILES[caller.profile].pseudonym(secrets, body.userUUID, body.sensitiveData);
}

const encryptOptions = {
  body: PseudonymRequest,
  response: { 200: PseudonymAnswer, ...commonErrorAnswers, 401: ErrorAnswer },
} as const;

export function pseudonymRoutes(parseJson: JsonBodyParser, deps: PseudonymDeps) {
  const batchMax = deps.batchMax ?? DEFAULT_BATCH_MAX;
  return (
    new Elysia({ name: "caas.pseudonym", seed: batchMax })
      /**
       * Authentication runs here, in the transform phase: after the body is parsed (the key may be
       * in it) but before the route's schema is checked, so a request with a bad key is a 401
       * whatever else is wrong with it, and an unauthenticated caller learns nothing about
       * validation. Only body framing (media type, size, UTF-8, JSON) is answered before it: the
       * key cannot be read from a body that cannot be read. Credentials are read once, so a
       * SIGHUP reload mid-request cannot pair one load's key with another's secrets.
       */
      .derive(({ request, body }) => {
        const { apiKeys, secrets } = deps.credentials.current;
        const caller = authenticate(apiKeys, request.headers, body);
        // The server charged this request to its address; a key found in the body takes the charge over.
        chargeToKey(request, caller.name);
        return { caller, secrets };
      })
      .post("/encrypt", ({ caller, secrets, body }) => encrypt(caller, secrets, body), {
        ...encryptOptions,
        parse: parseJson,
        detail: {
          tags: ["pseudonym"],
          summary: "The pseudonym of sensitiveData for a user",
          description:
            "Deterministic: the same key profile, user and data give the same encrypted_data. Also served at /encode (the Django original's code path) and with a trailing slash.",
        },
      })
      .post("/encrypt/batch", async ({ caller, secrets, body }) => ({ results: await answerEach(body.items, (item) => encrypt(caller, secrets, item)) }), {
        parse: parseJson,
        // After the derive above: a bad key is 401 before the batch is counted or checked.
        transform: ({ body }) => assertBatchSize(body, batchMax),
        body: pseudonymBatchRequest(batchMax),
        response: { 200: PseudonymBatchAnswer, ...commonErrorAnswers, 401: ErrorAnswer },
        detail: {
          tags: ["pseudonym"],
          summary: "Many pseudonyms in one call, under one API key",
          description: `Up to ${batchMax} items (CAAS_BATCH_MAX; more is 413 batch_too_large), each answered as POST /encrypt would, in order; an item that fails (say, a userUUID that is not a UUID) gets {"error":{"code","message"}} in its place while the others are answered. One API key for the whole batch, in the body or a header; a wrongly typed item fails the whole request (400 invalid_body).`,
        },
      })
      .post("/encode", ({ caller, secrets, body }) => encrypt(caller, secrets, body), {
        ...encryptOptions,
        parse: parseJson,
        detail: { tags: ["pseudonym"], summary: "Same as /encrypt (the Django original's code path)" },
      })
      .post(
        "/verify",
        ({ caller, secrets, body }) => ({
          match: PROFILES[caller.profile].verify(secrets, body.userUUID, body.sensitiveData, body.encrypted_data),
        }),
        {
          parse: parseJson,
          body: VerifyRequest,
          response: { 200: VerifyAnswer, ...commonErrorAnswers, 401: ErrorAnswer },
          detail: {
            tags: ["pseudonym"],
            summary: "Whether encrypted_data is this user's pseudonym of sensitiveData",
            description: "Compared in constant time against every secret version, so pseudonyms made before a rotation still match.",
          },
        },
      )
  );
}
