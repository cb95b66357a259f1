/**
 * The TypeScript types generated from the OpenAPI document are the committed ones
 * (clients/caas-openapi.ts; `bun run openapi:types` rewrites them), and a client typed by them
 * alone (tests/openapi/client.ts, type-checked by `bun run typecheck`) calls every documented
 * operation against the app and gets the answers the types promise.
 */
import { describe, expect, it } from "bun:test";
import { SPEC_PATH } from "../../src/modules/ops/docs.ts";
import { callEveryRoute, callSigningRoutes, caasClient } from "../openapi/client.ts";
import { FULL_KEY, fixtureApp, KEY_NAME, MAC_NAME, SIGNER_NAME } from "../openapi/fixture.ts";
import { generatedTypes, servedDocument, TYPES_FILE } from "../openapi/generate-types.ts";
import { README_USER } from "../../support/constants.ts";

describe("the generated TypeScript types", () => {
  it("are what openapi-typescript makes of the document today (run bun run openapi:types after changing a route)", async () => {
    expect(await generatedTypes(await servedDocument())).toBe(await Bun.file(TYPES_FILE).text());
  }, 30_000);
});

describe("a client typed by the generated types alone", () => {
  it("calls every documented operation, and each answers as its types say", async () => {
    const app = fixtureApp();
    const called = new Set<string>();
    const client = caasClient("https://caas.test", FULL_KEY, (request) => {
      const path = new URL(request.url).pathname.replace(
        new RegExp(`^/keyring/(${KEY_NAME}|${SIGNER_NAME}|${MAC_NAME})/`),
        "/keyring/{name}/",
      );
      called.add(`${request.method.toLowerCase()} ${path}`);
      return app.handle(request);
    });
    const trips = await callEveryRoute(client, KEY_NAME, README_USER);
    expect(trips).toEqual({
      opened: "attack at dawn",
      openedEnvelope: "attack at dawn",
      keyringOpened: "attack at dawn",
      verified: true,
      batchSizes: [2, 1, 2, 1, 1],
      refusal: "invalid_ciphertext",
    });
    expect(await callSigningRoutes(client, SIGNER_NAME, MAC_NAME)).toEqual({
      verified: true,
      macVerified: true,
      tokenValid: true,
      kid: `${SIGNER_NAME}.v2`,
      publicVersions: [2],
      jwksKids: [`${SIGNER_NAME}.v2`],
      batchSizes: [2, 1, 1],
    });

    const document = (await (await app.handle(new Request(`https://caas.test${SPEC_PATH}`))).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`));
    expect([...called].sort()).toEqual(documented.sort());
  });
});
