/**
 * A small client of every route, typed by nothing but the generated OpenAPI types
 * (clients/caas-openapi.ts) through openapi-fetch: `bun run typecheck` checks each call's path,
 * body and answer against the document, and tests/unit/openapi-client.test.ts runs it against
 * the app. No cast anywhere: a field the document drops or renames is a type error here.
 */
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "../../clients/caas-openapi.ts";

export type CaasClient = Client<paths>;

export function caasClient(baseUrl: string, apiKey: string, fetch?: (request: Request) => Promise<Response>): CaasClient {
  return createClient<paths>({ baseUrl, headers: { authorization: `Bearer ${apiKey}` }, ...(fetch === undefined ? {} : { fetch }) });
}

/** Its answer, or an error naming the route and status. */
function answered<Data>(route: string, result: { data?: Data; response: Response }): Data {
  if (result.data === undefined) throw new Error(`${route} answered ${result.response.status}`);
  return result.data;
}

type KeyringRefusal = components["schemas"]["ErrorCode"];

export interface RoundTrips {
  readonly opened: string;
  readonly openedEnvelope: string;
  readonly keyringOpened: string;
  readonly verified: boolean;
  readonly batchSizes: readonly number[];
  /** The code a keyring decrypt of something that is no ciphertext is refused with, typed as the route's 400 codes. */
  readonly refusal: KeyringRefusal | undefined;
}

/** Calls every route once or more (the key must have scopes pseudonym and keyring:NAME), checking what comes back fits. */
export async function callEveryRoute(client: CaasClient, keyName: string, user: string): Promise<RoundTrips> {
  const name = { path: { name: keyName } };
  answered("healthz", await client.GET("/healthz"));
  answered("readyz", await client.GET("/readyz"));

  const sealed = answered("seal", await client.POST("/oracleinvocation", { body: { data: "attack at dawn", aad: "order-42" } }));
  if (!("key" in sealed)) throw new Error("without wrap_with the oracle returns the key");
  const { data, mac, nonce, key } = sealed;
  const opened = answered(
    "open",
    await client.POST("/oracleinvocation/decrypt", { body: { data, key, mac, nonce, aad: "order-42" } }),
  ).data;
  const envelope = answered("seal/", await client.POST("/oracleinvocation/", { body: { data: "attack at dawn", wrap_with: keyName } }));
  if (!("wrapped_key" in envelope)) throw new Error("with wrap_with the oracle returns only the wrapped key");
  const openedEnvelope = answered(
    "open envelope",
    await client.POST("/oracleinvocation/decrypt", {
      body: { data: envelope.data, mac: envelope.mac, nonce: envelope.nonce, wrapped_key: envelope.wrapped_key, wrap_with: keyName },
    }),
  ).data;
  const sealedMany = answered(
    "seal batch",
    await client.POST("/oracleinvocation/batch", { body: { items: [{ data: "one" }, { data: "two" }] } }),
  );

  const pseudonym = answered("encrypt", await client.POST("/encrypt", { body: { userUUID: user, sensitiveData: "example" } }));
  const encoded = answered("encode", await client.POST("/encode", { body: { userUUID: user, sensitiveData: "example" } }));
  const pseudonyms = answered(
    "encrypt batch",
    await client.POST("/encrypt/batch", { body: { items: [{ userUUID: user, sensitiveData: "example" }] } }),
  );
  const verified = answered(
    "verify",
    await client.POST("/verify", { body: { userUUID: user, sensitiveData: "example", encrypted_data: pseudonym.encrypted_data } }),
  ).match;
  if (encoded.encrypted_data !== pseudonym.encrypted_data) throw new Error("/encode and /encrypt are the same operation");

  const encrypted = answered(
    "keyring encrypt",
    await client.POST("/keyring/{name}/encrypt", { params: name, body: { data: "attack at dawn" } }),
  );
  const version: number = encrypted.version;
  const keyringOpened = answered(
    "keyring decrypt",
    await client.POST("/keyring/{name}/decrypt", { params: name, body: { ciphertext: encrypted.ciphertext } }),
  ).data;
  const rewrapped = answered(
    "rewrap",
    await client.POST("/keyring/{name}/rewrap", { params: name, body: { ciphertext: encrypted.ciphertext } }),
  );
  if (rewrapped.version < version) throw new Error("rewrap goes to the newest version");
  const dataKey = answered("datakey", await client.POST("/keyring/{name}/datakey", { params: name, body: { plaintext: false } }));
  const encryptedMany = answered(
    "keyring encrypt batch",
    await client.POST("/keyring/{name}/encrypt/batch", { params: name, body: { items: [{ data: "one" }, { data: "two" }] } }),
  );
  const decryptedMany = answered(
    "keyring decrypt batch",
    await client.POST("/keyring/{name}/decrypt/batch", {
      params: name,
      body: { items: [{ ciphertext: dataKey.wrapped_key, encoding: "base64" }] },
    }),
  );
  const rewrappedMany = answered(
    "keyring rewrap batch",
    await client.POST("/keyring/{name}/rewrap/batch", { params: name, body: { items: [{ ciphertext: encrypted.ciphertext }] } }),
  );

  const refused = await client.POST("/keyring/{name}/decrypt", { params: name, body: { ciphertext: "not a ciphertext" } });
  const refusal = refused.error?.error.code;

  return {
    opened,
    openedEnvelope,
    keyringOpened,
    verified,
    batchSizes: [sealedMany, pseudonyms, encryptedMany, decryptedMany, rewrappedMany].map((batch) => batch.results.length),
    refusal,
  };
}

export interface SigningTrips {
  readonly verified: boolean;
  readonly macVerified: boolean;
  readonly tokenValid: boolean;
  readonly kid: string;
  readonly publicVersions: readonly number[];
  readonly jwksKids: readonly string[];
  readonly batchSizes: readonly number[];
}

/** Calls every signing route (the key must have scopes keyring:SIGNER and keyring:MAC). */
export async function callSigningRoutes(client: CaasClient, signer: string, mac: string): Promise<SigningTrips> {
  const bySigner = { path: { name: signer } };
  const byMac = { path: { name: mac } };
  const signed = answered("sign", await client.POST("/keyring/{name}/sign", { params: bySigner, body: { data: "order 42 shipped" } }));
  const verified = answered(
    "verify",
    await client.POST("/keyring/{name}/verify", { params: bySigner, body: { data: "order 42 shipped", signature: signed.signature } }),
  ).valid;
  const maced = answered("hmac", await client.POST("/keyring/{name}/hmac", { params: byMac, body: { data: "order 42 shipped" } }));
  const macVerified = answered(
    "verify hmac",
    await client.POST("/keyring/{name}/verify", { params: byMac, body: { data: "order 42 shipped", hmac: maced.hmac } }),
  ).valid;
  const token = answered("jwt", await client.POST("/keyring/{name}/jwt", { params: bySigner, body: { claims: { sub: "user-42" } } }));
  const checked = answered(
    "jwt verify",
    await client.POST("/keyring/{name}/jwt/verify", { params: bySigner, body: { token: token.token } }),
  );
  const publicKey = answered("public-key", await client.GET("/keyring/{name}/public-key", { params: bySigner }));
  const jwks = answered("jwks", await client.GET("/.well-known/jwks.json"));
  const signedMany = answered(
    "sign batch",
    await client.POST("/keyring/{name}/sign/batch", { params: bySigner, body: { items: [{ data: "one" }, { data: "two" }] } }),
  );
  const macedMany = answered(
    "hmac batch",
    await client.POST("/keyring/{name}/hmac/batch", { params: byMac, body: { items: [{ data: "one" }] } }),
  );
  const verifiedMany = answered(
    "verify batch",
    await client.POST("/keyring/{name}/verify/batch", {
      params: bySigner,
      body: { items: [{ data: "order 42 shipped", signature: signed.signature }] },
    }),
  );
  return {
    verified,
    macVerified,
    tokenValid: checked.valid,
    kid: token.kid,
    publicVersions: publicKey.versions.map((entry) => entry.version),
    jwksKids: jwks.keys.map((key) => key.kid ?? ""),
    batchSizes: [signedMany, macedMany, verifiedMany].map((batch) => batch.results.length),
  };
}
