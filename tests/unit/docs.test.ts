/**
 * The API documentation: Swagger UI at /swagger loads only what caas itself serves (its CSS and
 * script are swagger-ui-dist's files, embedded), and the OpenAPI document at /swagger/json
 * describes every route the app serves, with request schemas, examples and error answers, and
 * none of the docs' own routes. (That the page renders in a real browser with other hosts blocked
 * is the headless-Chromium test's job.)
 */
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { validate } from "@readme/openapi-parser";
import type { RequestErrorCode } from "../../src/errors.ts";
import { STATUS_OF } from "../../src/http/error-answers.ts";
import { BODY_CODES, ERROR_CODES } from "../../src/http/model.ts";
import { DOCS_ASSETS, DOCS_PATH, SPEC_PATH } from "../../src/modules/ops/docs.ts";
import packageJson from "../../package.json" with { type: "json" };
import { type CaasApp, postJson, testApp } from "./helpers.ts";

const app = testApp();
const ORIGIN = "http://localhost";

const get = (path: string) => app.handle(new Request(`${ORIGIN}${path}`));

/** Every URL an HTML page makes the browser load or link: src=, href=, CSS url(), and the spec URL given to Swagger UI. */
function urlsIn(html: string): string[] {
  const urls: string[] = [];
  for (const match of html.matchAll(/\b(?:src|href|action|poster|data)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
    urls.push(match[1] ?? match[2] ?? match[3] ?? "");
  }
  for (const match of html.matchAll(/url\(\s*['"]?([^'")]+)['"]?\s*\)/gi)) urls.push(match[1] ?? "");
  for (const match of html.matchAll(/"(?:url|configUrl|oauth2RedirectUrl|validatorUrl)"\s*:\s*"([^"]*)"/g)) urls.push(match[1] ?? "");
  return urls;
}

interface SchemaObject {
  $ref?: string;
  allOf?: SchemaObject[];
  required?: string[];
  examples?: unknown[];
  enum?: string[];
  properties?: Record<string, SchemaObject>;
  type?: string;
  title?: string;
  description?: string;
}
interface MediaType {
  schema?: SchemaObject;
  example?: unknown;
  examples?: Record<string, { summary?: string; value: { error: { code: string; message: string } } }>;
}
interface Operation {
  operationId?: string;
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, { description?: string; content?: Record<string, MediaType> }>;
  security?: Record<string, string[]>[];
  summary?: string;
  description?: string;
  tags?: string[];
}
interface Spec {
  openapi: string;
  info: { title: string; version: string; description?: string };
  servers?: { url: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, SchemaObject>; securitySchemes?: Record<string, Record<string, string>> };
}

/** A schema with its $ref followed, as a client generator reads it. */
function resolved(document: Spec, schema: SchemaObject | undefined): SchemaObject | undefined {
  const name = schema?.$ref?.replace("#/components/schemas/", "");
  return name === undefined ? schema : document.components.schemas[name];
}

/** Every operation of the document as [path, method, operation]. */
function operations(document: Spec): [string, string, Operation][] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]): [string, string, Operation] => [path, method, operation]),
  );
}

async function spec(from: CaasApp = app, url = `${ORIGIN}${SPEC_PATH}`): Promise<Spec> {
  const answer = await from.handle(new Request(url));
  expect(answer.status).toBe(200);
  expect(answer.headers.get("content-type")).toStartWith("application/json");
  return (await answer.json()) as Spec;
}

/** The routes the app serves besides the docs, as "METHOD /path" (trailing slashes are the same route). */
function servedRoutes(): string[] {
  const routes = app.routes
    .filter((route) => route.method !== "OPTIONS" && !route.path.startsWith(DOCS_PATH))
    .map((route) => `${route.method} ${route.path.length > 1 ? route.path.replace(/\/$/, "") : route.path}`)
    // OpenAPI writes a path parameter as {name} where the router has :name.
    .map((route) => route.replace(/:(\w+)/g, "{$1}"));
  return [...new Set(routes)].sort();
}

describe("the docs page", () => {
  it("is served at /swagger as HTML, titled caas", async () => {
    const answer = await get(DOCS_PATH);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toStartWith("text/html");
    const html = await answer.text();
    expect(html).toContain("<title>caas</title>");
    // The plugin puts the description into attributes unescaped: it must survive that intact.
    const { info } = await spec();
    expect(info.description).not.toMatch(/["<>&]/);
    expect(html).toContain(`content="${info.description}"`);
  });

  it("loads nothing from another host: every URL in it is same-origin", async () => {
    const html = await (await get(DOCS_PATH)).text();
    const urls = urlsIn(html);
    expect(urls.length).toBeGreaterThanOrEqual(3); // stylesheet, script, spec
    for (const url of urls) {
      if (url === "none") continue; // validatorUrl: "none" turns the online validator off
      expect(new URL(url, `${ORIGIN}${DOCS_PATH}`).origin).toBe(ORIGIN);
    }
    // And no absolute or protocol-relative URL anywhere in it, not even in a script.
    expect(html).not.toMatch(/(?:https?:)?\/\/[a-z0-9-]+(?:\.[a-z0-9-]+)+/i);
    expect(html).toContain('"validatorUrl":"none"');
  });

  it("finds every URL it references on caas: the stylesheet, the script and the spec", async () => {
    const html = await (await get(DOCS_PATH)).text();
    const expected: Record<string, string> = {
      "swagger-ui.css": "text/css",
      "swagger-ui-bundle.js": "text/javascript",
      json: "application/json",
    };
    const fetched = new Set<string>();
    for (const url of urlsIn(html).filter((url) => url !== "none")) {
      const path = new URL(url, `${ORIGIN}${DOCS_PATH}`).pathname;
      const answer = await get(path);
      expect(answer.status).toBe(200);
      const name = path.split("/").at(-1) ?? "";
      expect(Object.keys(expected)).toContain(name);
      expect(answer.headers.get("content-type")).toStartWith(expected[name]!);
      expect((await answer.arrayBuffer()).byteLength).toBeGreaterThan(0);
      fetched.add(name);
    }
    expect([...fetched].sort()).toEqual(Object.keys(expected).sort());
  });

  it("serves Swagger UI's own files, byte for byte, from the embedded swagger-ui-dist", async () => {
    for (const asset of DOCS_ASSETS) {
      const answer = await get(asset.path);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toBe(asset.contentType);
      expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
      const name = asset.path.split("/").at(-1) ?? "";
      const original = await Bun.file(`${import.meta.dir}/../../node_modules/swagger-ui-dist/${name}`).bytes();
      expect(new Uint8Array(await answer.arrayBuffer())).toEqual(original);
    }
  });

  it("has a stylesheet whose url()s are all inline data", async () => {
    const css = await (await get(DOCS_ASSETS.find((asset) => asset.path.endsWith(".css"))!.path)).text();
    for (const match of css.matchAll(/url\(\s*['"]?([^'")]*)/g)) expect(match[1]).toStartWith("data:");
    expect(css).not.toMatch(/@import/);
  });

  it("redirects /swagger/ to /swagger, where the page's relative spec URL resolves", async () => {
    const answer = await get(`${DOCS_PATH}/`);
    expect(answer.status).toBe(308);
    expect(answer.headers.get("location")).toBe(DOCS_PATH);
  });
});

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1 for caas at the package's version", async () => {
    const document = await spec();
    expect(document.openapi).toStartWith("3.1.");
    expect(document.info.title).toBe("caas");
    expect(document.info.version).toBe(packageJson.version);
  });

  it("lists every route the app serves, and none of the docs' own", async () => {
    const document = await spec();
    const documented = operations(document).map(
      ([path, method]) => `${method.toUpperCase()} ${path.length > 1 ? path.replace(/\/$/, "") : path}`,
    );
    expect([...new Set(documented)].sort()).toEqual(servedRoutes());
    for (const route of ["POST /oracleinvocation", "POST /oracleinvocation/decrypt", "GET /healthz"]) expect(documented).toContain(route);
    expect(Object.keys(document.paths).filter((path) => path.startsWith(DOCS_PATH))).toEqual([]);
  });

  it("lists /oracleinvocation/, the Flask original's README path, as the same operation, and says every path has its trailing-slash twin", async () => {
    const document = await spec();
    const { operationId, ...withSlash } = document.paths["/oracleinvocation/"]?.post ?? {};
    const { operationId: original, ...plain } = document.paths["/oracleinvocation"]?.post ?? {};
    expect(withSlash).toEqual(plain);
    expect(operationId).toBe(`${original}_with_slash`);
    expect(document.info.description).toContain("with and without a trailing slash");
    // And the app does serve it, as it serves the twin of every path.
    expect((await postJson(app, "/oracleinvocation/", { data: "attack at dawn" })).status).toBe(200);
    expect((await postJson(app, "/oracleinvocation/decrypt/", {})).status).toBe(400);
  });

  it("gives every operation a summary and a tag", async () => {
    for (const [path, operations] of Object.entries((await spec()).paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        expect({ route: `${method} ${path}`, summary: typeof operation.summary }).toEqual({
          route: `${method} ${path}`,
          summary: "string",
        });
        expect(operation.tags?.length ?? 0).toBeGreaterThan(0);
      }
    }
  });

  it("describes every JSON request body with its schema and an example", async () => {
    const document = await spec();
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (method !== "post") continue;
        const media = operation.requestBody?.content?.["application/json"];
        expect({ route: `${method} ${path}`, hasSchema: media?.schema !== undefined }).toEqual({
          route: `${method} ${path}`,
          hasSchema: true,
        });
        const schema = resolved(document, media?.schema);
        const properties = Object.values(schema?.properties ?? {});
        const hasExample =
          media?.example !== undefined || (schema?.examples?.length ?? 0) > 0 || properties.some((p) => (p.examples?.length ?? 0) > 0);
        expect({ route: `${method} ${path}`, hasExample }).toEqual({ route: `${method} ${path}`, hasExample: true });
      }
    }
  });

  it("documents the oracle's request fields and the seal example", async () => {
    const document = await spec();
    const seal = document.paths["/oracleinvocation"]?.post?.requestBody?.content?.["application/json"];
    expect(seal?.schema).toEqual({ $ref: "#/components/schemas/SealRequest" });
    expect(resolved(document, seal?.schema)?.required).toEqual(["data"]);
    expect(Object.keys(resolved(document, seal?.schema)?.properties ?? {}).sort()).toEqual(["aad", "data", "wrap_with"]);
    expect(seal?.example).toEqual({ data: "attack at dawn" });
    const open = document.paths["/oracleinvocation/decrypt"]?.post?.requestBody?.content?.["application/json"];
    // key or, in envelope mode, wrapped_key with wrap_with: one of them, which the route checks.
    expect([...(resolved(document, open?.schema)?.required ?? [])].sort()).toEqual(["data", "mac", "nonce"]);
  });

  it("lists the error answers of every JSON endpoint, the body's codes among them, each the one error shape", async () => {
    const document = await spec();
    for (const [path, method, operation] of operations(document)) {
      if (method !== "post") continue;
      const codes = Object.values(operation.responses ?? {}).flatMap((response) =>
        errorCodes(response.content?.["application/json"]?.schema),
      );
      expect({ route: `${method} ${path}`, codes }).toEqual({ route: `${method} ${path}`, codes: expect.arrayContaining([...BODY_CODES]) });
    }
  });

  it("names its schemas in components and refers to them; the error answer is written once", async () => {
    const document = await spec();
    const text = JSON.stringify(document);
    expect(Object.keys(document.components.schemas)).toEqual(
      expect.arrayContaining(["ErrorAnswer", "ErrorCode", "SealRequest", "SealedText", "PseudonymRequest", "KeyringEncryptRequest"]),
    );
    expect(text.split("Every failure has this shape.").length - 1).toBe(1);
    expect(text.split('"Human explanation; never contains request data"').length - 1).toBe(1);
    expect(document.components.schemas.ErrorCode?.enum).toEqual([...ERROR_CODES]);
    expect(resolved(document, document.components.schemas.ErrorAnswer?.properties?.error?.properties?.code)).toEqual(
      document.components.schemas.ErrorCode,
    );
    // Every request and 200 answer is a reference, not an inline copy.
    for (const [path, method, operation] of operations(document)) {
      const schemas = [
        operation.requestBody?.content?.["application/json"]?.schema,
        operation.responses?.["200"]?.content?.["application/json"]?.schema,
      ];
      for (const schema of schemas.filter((schema) => schema !== undefined)) {
        expect({ route: `${method} ${path}`, ref: schema.$ref }).toEqual({
          route: `${method} ${path}`,
          ref: expect.stringMatching(/^#\/components\/schemas\//),
        });
      }
    }
  });

  it("gives each error answer the codes it can carry at its status, as an enum, with one example per code", async () => {
    const document = await spec();
    let listed = 0;
    for (const [path, method, operation] of operations(document)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (status.startsWith("2")) continue;
        const media = response.content?.["application/json"];
        expect(media?.schema?.allOf?.[0]).toEqual({ $ref: "#/components/schemas/ErrorAnswer" });
        const codes = errorCodes(media?.schema);
        expect(codes.length).toBeGreaterThan(0);
        for (const code of codes) {
          expect({ route: `${method} ${path}`, code, status: STATUS_OF[code as RequestErrorCode] as number }).toEqual({
            route: `${method} ${path}`,
            code,
            status: Number(status),
          });
          expect(media?.examples?.[code]?.value.error.code).toBe(code);
          expect(media?.examples?.[code]?.value.error.message.length).toBeGreaterThan(0);
          listed += 1;
        }
        expect(Object.keys(media?.examples ?? {}).sort()).toEqual([...codes].sort());
      }
    }
    expect(listed).toBeGreaterThan(100);
    const decrypt = document.paths["/keyring/{name}/decrypt"]?.post;
    expect(errorCodes(decrypt?.responses?.["400"]?.content?.["application/json"]?.schema)).toEqual(
      expect.arrayContaining(["invalid_ciphertext", "key_version_retired", "authentication_failed", "plaintext_not_utf8"]),
    );
    expect(errorCodes(document.paths["/readyz"]?.get?.responses?.["503"]?.content?.["application/json"]?.schema)).toEqual(["not_ready"]);
  });

  it("is valid OpenAPI to a maintained validator, which does refuse a broken document", async () => {
    const document = await spec();
    expect(await validate(structuredClone(document) as Parameters<typeof validate>[0])).toEqual({
      valid: true,
      warnings: [],
      specification: "OpenAPI",
    });
    const broken = structuredClone(document);
    delete broken.components.schemas.SealRequest;
    const refused = await validate(broken as unknown as Parameters<typeof validate>[0]);
    expect(refused.valid).toBe(false);
  });

  it("describes how an API key is presented, and which operations need one", async () => {
    const document = await spec();
    expect(document.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: "http", scheme: "bearer" }),
      apiKeyHeader: expect.objectContaining({ type: "apiKey", in: "header", name: "X-API-Key" }),
    });
    const required: Record<string, string[]>[] = [{ bearer: [] }, { apiKeyHeader: [] }];
    for (const [path, method, operation] of operations(document)) {
      const route = `${method} ${path}`;
      if (path.startsWith("/keyring/") || operation.tags?.includes("pseudonym"))
        expect({ route, security: operation.security }).toEqual({ route, security: required });
      if (path === "/oracleinvocation/batch" || path === "/.well-known/jwks.json")
        expect({ route, security: operation.security }).toEqual({ route, security: [] });
      // Envelope mode (wrap_with) checks a key if one is sent; none is needed otherwise.
      if (path === "/oracleinvocation" || path === "/oracleinvocation/decrypt")
        expect({ route, security: operation.security }).toEqual({ route, security: [{}, ...required] });
      if (operation.tags?.includes("pseudonym")) {
        expect(operation.description).toContain("apiKey in the JSON body");
        const body = resolved(document, operation.requestBody?.content?.["application/json"]?.schema);
        expect(body?.properties?.apiKey?.description).toContain("Authorization: Bearer");
      }
      if (operation.tags?.includes("keyring")) expect(operation.description).toContain("Authorization: Bearer or X-API-Key");
    }
  });

  it("requires a key on every oracle operation with CAAS_ORACLE_REQUIRE_KEY, and lists its refusals", async () => {
    const document = await spec(testApp({ config: { oracleRequireKey: true } }));
    for (const path of ["/oracleinvocation", "/oracleinvocation/", "/oracleinvocation/batch", "/oracleinvocation/decrypt"]) {
      const operation = document.paths[path]?.post;
      expect({ path, security: operation?.security }).toEqual({ path, security: [{ bearer: [] }, { apiKeyHeader: [] }] });
      expect(errorCodes(operation?.responses?.["401"]?.content?.["application/json"]?.schema)).toEqual(["unauthorized"]);
      expect(errorCodes(operation?.responses?.["403"]?.content?.["application/json"]?.schema)).toEqual(["forbidden"]);
    }
  });

  it("names the server it was asked on as its server, so Try it out calls this caas", async () => {
    expect((await spec(app, `https://caas.example:8443${SPEC_PATH}`)).servers).toEqual([
      { url: "https://caas.example:8443", description: expect.any(String) },
    ]);
    expect((await spec(app, `http://127.0.0.1:9000${SPEC_PATH}`)).servers?.[0]?.url).toBe("http://127.0.0.1:9000");
  });
});

describe("docs/api.md", () => {
  const text = readFileSync(join(import.meta.dir, "../../docs/api.md"), "utf8");
  const escaped = (path: string) => path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  /** Written in code, alone or after its method; a keyring batch may be the short `/op/batch` beside its siblings. */
  const named = (path: string) =>
    new RegExp(`[\`\\s]${escaped(path)}\``).test(text) ||
    (/^\/keyring\/\{name\}\/[\w-]+\/batch$/.test(path) && text.includes(`\`${path.slice("/keyring/{name}".length)}\``));

  it("names every route the app serves, so a route cannot ship undocumented", () => {
    const paths = [...new Set(servedRoutes().map((route) => route.split(" ")[1] ?? ""))];
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.filter((path) => !named(path))).toEqual([]);
  });

  it("has a row in its error table for every error code", () => {
    const rows = text.split("\n").filter((line) => /^\| \d{3} \|/.test(line));
    const listed = new Set(rows.flatMap((row) => [...(row.split("|")[2] ?? "").matchAll(/`(\w+)`/g)].map((match) => match[1])));
    expect(ERROR_CODES.filter((code) => !listed.has(code))).toEqual([]);
  });
});

/** The codes an error answer's schema lists (the enum it narrows ErrorAnswer's code to). */
function errorCodes(schema: SchemaObject | undefined): string[] {
  return schema?.allOf?.[1]?.properties?.error?.properties?.code?.enum ?? [];
}
