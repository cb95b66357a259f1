/**
 * What keeps the per-request path lean, checked where a dependency upgrade could silently undo it
 * (bench/ measures the effect; these only hold the cause in place).
 */
import { describe, expect, it } from "bun:test";
import { testApp } from "./helpers.ts";

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
  it.each(bodyRoutes.map((route) => [route.path, route] as const))(
    "%s never touches request.body (the Elysia patch is applied)",
    (_path, route) => {
      const source = String(route.compile());
      expect(source).toContain("c.request.headers.get('content-type')");
      expect(source).not.toMatch(/request\.body\b/);
    },
  );

  // Elysia answers through TypeBox's Encode, which walks the value and schema on every request,
  // wherever a response schema holds a transform (Elysia's own t.Integer is one); a Check otherwise.
  it.each(app.routes.map((route) => [`${route.method} ${route.path}`, route] as const))(
    "%s checks its answer without an Encode",
    (_name, route) => {
      expect(String(route.compile())).not.toContain(".Encode(");
    },
  );
});

describe("the compiled router", () => {
  // patches/elysia@1.4.30.patch: Elysia 1.4.30 looks for the path from character 11 of
  // request.url on, as if every Host were at least four characters long. With "Host: ab",
  // "https://ab/zz/healthz" was routed as /healthz, and without a Host (HTTP/1.0, where Bun gives
  // the bare target) "/aaaaaaaaaa/healthz" was: a path rule in a proxy could be walked around.
  // The patch finds the path after the scheme's "//", or at 0 for a bare target, as src/http/paths.ts does.
  it("finds the path after the scheme, not at a fixed offset (the Elysia patch is applied)", () => {
    const source = String(app.fetch);
    expect(source).toContain("u.charCodeAt(0)===47?0:u.indexOf('/',u.indexOf('//')+2)");
    expect(source).not.toMatch(/indexOf\('\/',\s*(7|11)\)/);
  });
});
