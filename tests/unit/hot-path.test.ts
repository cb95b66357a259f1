/**
 * What keeps the per-request path lean, checked where a dependency upgrade could silently undo it
 * (bench/ measures the effect; these only hold the cause in place). The router's half of the
 * Elysia patch (the path found after the scheme, whatever the Host's length) is behaviour a
 * client sees, held by tests/e2e/raw-socket.e2e.test.ts against the binary.
 */
import { describe, expect, it } from "bun:test";
import { TransformKind } from "@sinclair/typebox";
import { t } from "elysia";
import { testApp } from "./helpers.ts";

/** The paths inside a schema (or a table of them by status) where a TypeBox transform sits. */
function transformsIn(schema: unknown, at = ""): string[] {
  if (typeof schema !== "object" || schema === null) return [];
  const here = TransformKind in schema ? [at || "/"] : [];
  return [...here, ...Object.entries(schema).flatMap(([key, value]) => transformsIn(value, `${at}/${key}`))];
}

const app = testApp({ apiKeys: [{ name: "hot-path-test", key: "hot-path-test-key-0123456789" }] });
const bodyRoutes = app.routes.filter((route) => route.method === "POST");

describe("compiled request handlers", () => {
  it("cover every POST route", () => {
    expect(bodyRoutes.map((route) => route.path)).toEqual(
      expect.arrayContaining([
        "/oracleinvocation",
        "/oracleinvocation/batch",
        "/oracleinvocation/decrypt",
        "/encrypt",
        "/encrypt/batch",
        "/encode",
        "/verify",
      ]),
    );
  });

  // patches/elysia@1.4.30.patch: Elysia reads request.body only to ask whether there is one,
  // and in Bun that builds a ReadableStream per request, which then slows the read itself
  // (about 7 µs of 60 per oracle call under load, bench/load.ts). Our parse hook reads the
  // declared length and the bytes directly, so nothing needs the stream.
  it.each(bodyRoutes.map((route) => route.path))(
    "%s answers without ever reading request.body (the Elysia patch is applied)",
    async (path) => {
      const request = new Request(`http://localhost${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": "2", "x-api-key": "hot-path-test-key-0123456789" },
        body: "{}",
      });
      let reads = 0;
      const stream = request.body;
      Object.defineProperty(request, "body", {
        get: () => {
          reads += 1;
          return stream;
        },
      });
      const answer = await app.handle(request);
      expect(answer.status).toBeLessThan(500);
      expect(reads).toBe(0);
    },
  );

  // Elysia answers through TypeBox's Encode, which walks the value and schema on every request,
  // wherever a response schema holds a transform (Elysia's own t.Integer is one); a Check otherwise.
  it("finds a transform where one is (Elysia's t.Integer, inside a response table)", () => {
    expect(transformsIn({ 200: t.Object({ count: t.Integer() }) })).toEqual(["/200/properties/count"]);
  });

  it.each(app.routes.map((route) => [`${route.method} ${route.path}`, route] as const))(
    "%s declares its answer with no transform in it, so it is checked, never encoded",
    (_name, route) => {
      expect(transformsIn(route.hooks.response)).toEqual([]);
    },
  );

  // Elysia compiles a validator for every status a route's response lists when it composes the
  // route; caas builds its error answers itself, so none of those would ever run (src/http/model.ts
  // keeps them under a symbol, which the OpenAPI document reads back: tests/unit/docs.test.ts).
  it.each(app.routes.map((route) => [`${route.method} ${route.path}`, route] as const))(
    "%s lists no error answer for Elysia to compile",
    (_name, route) => {
      const statuses = Object.keys(route.hooks.response ?? {}).map(Number);
      expect(statuses.filter((status) => status >= 400)).toEqual([]);
    },
  );
});
