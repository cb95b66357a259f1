/**
 * The API documentation: Swagger UI at /swagger loads only what caas itself serves (its CSS and
 * script are swagger-ui-dist's files, embedded), and the OpenAPI document at /swagger/json
 * describes every route the app serves, with request schemas, examples and error answers, and
 * none of the docs' own routes. (That the page renders in a real browser with other hosts blocked
 * is the headless-Chromium test's job.)
 */
import { describe, expect, it } from "bun:test";
import { DOCS_ASSETS, DOCS_PATH, SPEC_PATH } from "../../src/modules/ops/docs.ts";
import packageJson from "../../package.json" with { type: "json" };
import { testApp } from "./helpers.ts";

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

interface MediaType {
  schema?: { required?: string[]; examples?: unknown[]; properties?: Record<string, unknown> };
  example?: unknown;
}
interface Operation {
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, { content?: Record<string, MediaType> }>;
  summary?: string;
  tags?: string[];
}
interface Spec {
  openapi: string;
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
}

async function spec(): Promise<Spec> {
  const answer = await get(SPEC_PATH);
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
    const documented = Object.entries(document.paths)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(servedRoutes());
    for (const route of ["POST /oracleinvocation", "POST /oracleinvocation/decrypt", "GET /healthz"]) expect(documented).toContain(route);
    expect(Object.keys(document.paths).filter((path) => path.startsWith(DOCS_PATH))).toEqual([]);
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
    for (const [path, operations] of Object.entries((await spec()).paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (method !== "post") continue;
        const media = operation.requestBody?.content?.["application/json"];
        expect({ route: `${method} ${path}`, hasSchema: media?.schema !== undefined }).toEqual({
          route: `${method} ${path}`,
          hasSchema: true,
        });
        const properties = Object.values(media?.schema?.properties ?? {}) as { examples?: unknown[] }[];
        const hasExample =
          media?.example !== undefined ||
          (media?.schema?.examples?.length ?? 0) > 0 ||
          properties.some((p) => (p.examples?.length ?? 0) > 0);
        expect({ route: `${method} ${path}`, hasExample }).toEqual({ route: `${method} ${path}`, hasExample: true });
      }
    }
  });

  it("documents the oracle's request fields and the seal example", async () => {
    const { paths } = await spec();
    const seal = paths["/oracleinvocation"]?.post?.requestBody?.content?.["application/json"];
    expect(seal?.schema?.required).toEqual(["data"]);
    expect(Object.keys(seal?.schema?.properties ?? {}).sort()).toEqual(["aad", "data", "wrap_with"]);
    expect(seal?.example).toEqual({ data: "attack at dawn" });
    const open = paths["/oracleinvocation/decrypt"]?.post?.requestBody?.content?.["application/json"];
    // key or, in envelope mode, wrapped_key with wrap_with: one of them, which the route checks.
    expect([...(open?.schema?.required ?? [])].sort()).toEqual(["data", "mac", "nonce"]);
  });

  it("lists the error answers of every JSON endpoint: 400, 413 and 415 with the error shape", async () => {
    for (const [path, operations] of Object.entries((await spec()).paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (method !== "post") continue;
        const statuses = Object.keys(operation.responses ?? {});
        expect({ route: `${method} ${path}`, statuses }).toEqual({
          route: `${method} ${path}`,
          statuses: expect.arrayContaining(["200", "400", "413", "415"]),
        });
        for (const status of ["400", "413", "415"]) {
          const schema = operation.responses?.[status]?.content?.["application/json"]?.schema;
          expect(schema?.required).toEqual(["error"]);
        }
      }
    }
  });
});
