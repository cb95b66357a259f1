/**
 * Scope keyring:NAME:datakey-wrapped, for a writer that should never hold a key: it allows
 * POST /keyring/NAME/datakey with {"plaintext": false} and nothing else. On every other route
 * and body (a plaintext data key, the oracle's envelope mode, every other keyring operation, the
 * pseudonym routes) its key gets exactly what a key without any scope for NAME gets.
 */
import { describe, expect, it } from "bun:test";
import { join } from "node:path";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { isValidScope } from "../../src/credentials/scopes.ts";
import { createKeyringKey } from "../../src/credentials/keyring-changes.ts";
import { loadKeyring } from "../../src/credentials/keyring-file.ts";
import { initRootKey, loadRootKey } from "../../src/credentials/root-key.ts";
import { withoutTrailingSlash } from "../../src/http/paths.ts";
import { testApp } from "./helpers.ts";
import { README_USER } from "../../support/constants.ts";
import { scratchDirectories } from "./scratch.ts";

// Made 0700 (mkdtemp), as the private files in them require, and removed after the last test.
const scratch = scratchDirectories("caas-wrapped-scope-");

const KEYS = {
  wrapped: "caas-test-wrapped-only-0001",
  /** Has a scope on another keyring key only: what "any missing scope" answers. */
  unrelated: "caas-test-unrelated-key-001",
  /** May do everything: each request in the table is one that succeeds with the scope. */
  all: "caas-test-every-scope-key-01",
};

async function appWith(oracleRequireKey: boolean) {
  const dir = await scratch();
  await initRootKey(join(dir, "root"));
  for (const name of ["orders", "other"]) await createKeyringKey(join(dir, "keyring.json"), join(dir, "root"), { name: name });
  await createKeyringKey(join(dir, "keyring.json"), join(dir, "root"), { name: "signer", type: "ed25519" });
  await createKeyringKey(join(dir, "keyring.json"), join(dir, "root"), { name: "mac", type: "hmac-sha256" });
  const keyring = await loadKeyring(join(dir, "keyring.json"), await loadRootKey(join(dir, "root")));
  const apiKeys = ApiKeyStore.fromKeys([
    { name: "wrapped-only", key: KEYS.wrapped, scopes: ["keyring:orders:datakey-wrapped"] },
    { name: "unrelated", key: KEYS.unrelated, scopes: ["keyring:other"] },
    { name: "all", key: KEYS.all, scopes: ["pseudonym", "oracle", "keyring:orders", "keyring:other", "keyring:signer", "keyring:mac"] },
  ]);
  const app = testApp({ config: { oracleRequireKey }, apiKeys, keyring });
  return async (method: string, path: string, body: unknown, key: string) => {
    const answer = await app.handle(
      new Request(`http://localhost${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    );
    const text = await answer.text();
    const json = answer.headers.get("content-type")?.startsWith("application/json") ? (JSON.parse(text) as Record<string, unknown>) : {};
    return { status: answer.status, code: (json.error as { code?: string } | undefined)?.code, json };
  };
}

type Call = Awaited<ReturnType<typeof appWith>>;

/** Bodies for each route, by path with :name as orders; made with the all-scopes key where they need a ciphertext. */
async function bodiesByRoute(call: Call): Promise<Readonly<Record<string, readonly unknown[]>>> {
  const sealed = (await call("POST", "/keyring/orders/encrypt", { data: "x" }, KEYS.all)).json;
  const oracle = (await call("POST", "/oracleinvocation", { data: "x" }, KEYS.all)).json;
  const envelope = (await call("POST", "/oracleinvocation", { data: "x", wrap_with: "orders" }, KEYS.all)).json;
  const pseudonym = { userUUID: README_USER, sensitiveData: "data" };
  const digest = (await call("POST", "/encrypt", pseudonym, KEYS.all)).json;
  const signed = (await call("POST", "/keyring/signer/sign", { data: "x" }, KEYS.all)).json;
  const token = (await call("POST", "/keyring/signer/jwt", { claims: { sub: "x" } }, KEYS.all)).json;
  return {
    "/oracleinvocation": [{ data: "x" }, { data: "x", wrap_with: "orders" }],
    "/oracleinvocation/batch": [{ items: [{ data: "x" }] }],
    "/oracleinvocation/decrypt": [oracle, { ...envelope, wrap_with: "orders" }],
    "/encrypt": [pseudonym],
    "/encrypt/batch": [{ items: [pseudonym] }],
    "/encode": [pseudonym],
    "/verify": [{ ...pseudonym, encrypted_data: digest.encrypted_data }],
    "/keyring/orders/encrypt": [{ data: "x" }],
    "/keyring/orders/encrypt/batch": [{ items: [{ data: "x" }] }],
    "/keyring/orders/decrypt": [{ ciphertext: sealed.ciphertext }],
    "/keyring/orders/decrypt/batch": [{ items: [{ ciphertext: sealed.ciphertext }] }],
    "/keyring/orders/rewrap": [{ ciphertext: sealed.ciphertext }],
    "/keyring/orders/rewrap/batch": [{ items: [{ ciphertext: sealed.ciphertext }] }],
    "/keyring/orders/datakey": [{}, { plaintext: true }, { plaintext: false }],
    "/keyring/signer/sign": [{ data: "x" }],
    "/keyring/signer/sign/batch": [{ items: [{ data: "x" }] }],
    "/keyring/mac/hmac": [{ data: "x" }],
    "/keyring/mac/hmac/batch": [{ items: [{ data: "x" }] }],
    "/keyring/signer/verify": [{ data: "x", signature: signed.signature }],
    "/keyring/signer/verify/batch": [{ items: [{ data: "x", signature: signed.signature }] }],
    "/keyring/signer/jwt": [{ claims: { sub: "x" } }],
    "/keyring/signer/jwt/verify": [{ token: token.token }],
  };
}

/** The key each route works on: an encryption key, a signing key or an HMAC key. */
function keyFor(route: string): string {
  if (/\/hmac(\/|$)/.test(route)) return "mac";
  return /\/(sign|verify|jwt|public-key)(\/|$)/.test(route) ? "signer" : "orders";
}

const isWrappedDatakey = (path: string, body: unknown) =>
  path === "/keyring/orders/datakey" && (body as { plaintext?: unknown }).plaintext === false;

describe("scope keyring:NAME:datakey-wrapped", () => {
  for (const oracleRequireKey of [false, true]) {
    it(`on every route, allows a wrapped data key and nothing a key without the scope is refused (CAAS_ORACLE_REQUIRE_KEY=${oracleRequireKey})`, async () => {
      const call = await appWith(oracleRequireKey);
      const bodies = await bodiesByRoute(call);
      const app = testApp();
      let posts = 0;
      for (const route of app.routes) {
        const path = withoutTrailingSlash(route.path).replace(":name", keyFor(route.path));
        if (route.method !== "POST") {
          const asked = await call(route.method, path, undefined, KEYS.wrapped);
          expect({ path, status: asked.status }).toEqual({
            path,
            status: (await call(route.method, path, undefined, KEYS.unrelated)).status,
          });
          continue;
        }
        const cases = bodies[path];
        // A route added later must be given its bodies here.
        expect({ path, listed: cases !== undefined }).toEqual({ path, listed: true });
        for (const body of cases ?? []) {
          posts += 1;
          const all = await call("POST", path, body, KEYS.all);
          expect({ path, body, status: all.status }).toEqual({ path, body, status: 200 });
          const wrapped = await call("POST", path, body, KEYS.wrapped);
          const unrelated = await call("POST", path, body, KEYS.unrelated);
          if (isWrappedDatakey(path, body)) {
            expect(unrelated.status).toBe(403);
            expect(wrapped.status).toBe(200);
            expect(Object.keys(wrapped.json)).toEqual(["wrapped_key"]);
          } else {
            const answer = { path, body, status: wrapped.status, code: wrapped.code };
            expect(answer).toEqual({ path, body, status: unrelated.status, code: unrelated.code });
            // Where the scope is asked for at all, both are refused the same way.
            if (path.startsWith("/keyring/") || "wrap_with" in (body as object) || oracleRequireKey || !path.startsWith("/oracle")) {
              expect(answer).toEqual({ path, body, status: 403, code: "forbidden" });
            }
          }
        }
      }
      // Every body in the table was sent: none is left for a route that is gone.
      expect(posts).toBe(Object.values(bodies).flat().length);
    });
  }

  it("gives the whole answer (key and wrapped_key) to datakey and to the whole-key scope, and nothing on another key name", async () => {
    const call = await appWith(false);
    expect(Object.keys((await call("POST", "/keyring/orders/datakey", {}, KEYS.all)).json).sort()).toEqual(["key", "wrapped_key"]);
    for (const body of [{ plaintext: false }, {}]) {
      expect((await call("POST", "/keyring/other/datakey", body, KEYS.wrapped)).status).toBe(403);
      expect((await call("POST", "/keyring/no-such-key/datakey", body, KEYS.wrapped)).status).toBe(403);
    }
    // A body that is not {"plaintext": false} as sent asks for the whole operation, so the scope falls short before the schema.
    for (const body of [{ plaintext: "false" }, { plaintext: 0 }, { plaintext: null }, [], "false"]) {
      expect((await call("POST", "/keyring/orders/datakey", body, KEYS.wrapped)).code).toBe("forbidden");
    }
  });

  it("is a scope keys add takes, spelt this one way", () => {
    expect(isValidScope("keyring:orders:datakey-wrapped")).toBe(true);
    for (const scope of [
      "keyring:orders:wrapped",
      "keyring:orders:datakey-wrapped:x",
      "keyring:orders:datakey_wrapped",
      "datakey-wrapped",
    ]) {
      expect({ scope, valid: isValidScope(scope) }).toEqual({ scope, valid: false });
    }
  });
});
