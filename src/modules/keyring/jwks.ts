import { Elysia } from "elysia";
import type { CredentialsHolder } from "../../credentials/holder.ts";
import { SigningKey } from "../../credentials/signing-keys.ts";
import { errorAnswers, NO_API_KEY } from "../../http/model.ts";
import { JWKS_MAX_AGE_SECONDS } from "../../credentials/key-types.ts";
import { JwksAnswer } from "./model.ts";

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
