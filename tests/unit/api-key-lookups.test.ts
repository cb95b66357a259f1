/**
 * A keyed request costs one hash of its key, however many layers want to know whose key it is:
 * the rate-limit gate looks a header key up before routing, and the route's authentication takes
 * that answer. Driven through gatedApp, the composition the API listener serves, and counted on
 * the real key store.
 */
import { describe, expect, it } from "bun:test";
import { defaultConfig } from "../../src/config.ts";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { Keyring, KeyringKey } from "../../src/credentials/keyring.ts";
import { XaesKey } from "../../src/crypto/xaes.ts";
import { Metrics } from "../../src/http/metrics.ts";
import { silentLogger } from "../../src/log.ts";
import { gatedApp } from "../../src/server/gated-app.ts";
import { testCredentials } from "./helpers.ts";
import { README_USER } from "../../support/constants.ts";

const KEY = "lookup-test-key-0123456789";

/** Keyring key "orders", one version. */
function keyring(): Keyring {
  const created = new Date().toISOString();
  const info = { name: "orders", created, minDecryptionVersion: 1, versions: [{ version: 1, created }] };
  return new Keyring([new KeyringKey(info, new Map([[1, new XaesKey(crypto.getRandomValues(new Uint8Array(32)))]]))]);
}

function served(rateLimit: number) {
  const store = ApiKeyStore.fromKeys([{ name: "main", key: KEY, scopes: ["pseudonym", "oracle", "keyring:orders"] }]);
  const credentials = testCredentials({ apiKeys: store, keyring: keyring() });
  const config = defaultConfig({ rateLimit, oracleRequireKey: true });
  const { handle } = gatedApp(config, { logger: silentLogger, credentials, metrics: new Metrics() });
  const post = (path: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    handle(
      new Request(`https://localhost${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      }),
    );
  return { store, credentials, post };
}

describe("an API key is hashed and looked up once a request", () => {
  for (const rateLimit of [100, 0]) {
    describe(rateLimit === 0 ? "without a rate limit" : "behind the rate-limit gate", () => {
      it("a key in a header, on a pseudonym route", async () => {
        const { store, post } = served(rateLimit);
        const answer = await post("/encrypt", { userUUID: README_USER, sensitiveData: "x" }, { "x-api-key": KEY });
        expect(answer.status).toBe(200);
        expect(store.lookups).toBe(1);
      });

      it("a key in the body, on a pseudonym route", async () => {
        const { store, post } = served(rateLimit);
        const answer = await post("/encrypt", { apiKey: KEY, userUUID: README_USER, sensitiveData: "x" });
        expect(answer.status).toBe(200);
        expect(store.lookups).toBe(1);
      });

      it("the same key in the body and a header", async () => {
        const { store, post } = served(rateLimit);
        const answer = await post(
          "/encrypt",
          { apiKey: KEY, userUUID: README_USER, sensitiveData: "x" },
          { authorization: `Bearer ${KEY}` },
        );
        expect(answer.status).toBe(200);
        expect(store.lookups).toBe(1);
      });

      it("a key in a header, on the oracle with CAAS_ORACLE_REQUIRE_KEY", async () => {
        const { store, post } = served(rateLimit);
        const answer = await post("/oracleinvocation", { data: "x" }, { "x-api-key": KEY });
        expect(answer.status).toBe(200);
        expect(store.lookups).toBe(1);
      });

      it("a key in a header, on a keyring route", async () => {
        const { store, post } = served(rateLimit);
        const answer = await post("/keyring/orders/encrypt", { data: "x" }, { authorization: `Bearer ${KEY}` });
        expect(answer.status).toBe(200);
        expect(store.lookups).toBe(1);
      });

      it("a key in a header, on the oracle in envelope mode (wrap_with)", async () => {
        const { store, post } = served(rateLimit);
        const answer = await post("/oracleinvocation", { data: "x", wrap_with: "orders" }, { "x-api-key": KEY });
        expect(answer.status).toBe(200);
        expect(store.lookups).toBe(1);
      });

      it("a wrong key in a header is refused after one lookup", async () => {
        const { store, post } = served(rateLimit);
        const answer = await post("/encrypt", { userUUID: README_USER, sensitiveData: "x" }, { "x-api-key": `${KEY}-wrong` });
        expect(answer.status).toBe(401);
        expect(store.lookups).toBe(1);
      });
    });
  }

  it("looks the key up again in a store reloaded between the gate and the route, and obeys the new one", async () => {
    const { store, credentials, post } = served(100);
    const emptied = ApiKeyStore.fromKeys([]);
    // The gate runs synchronously before the app; the reload lands while the body is read.
    const answered = post("/encrypt", { userUUID: README_USER, sensitiveData: "x" }, { "x-api-key": KEY });
    credentials.replace({ ...credentials.current, apiKeys: emptied });
    expect((await answered).status).toBe(401);
    expect(store.lookups).toBe(1);
    expect(emptied.lookups).toBe(1);
  });
});
