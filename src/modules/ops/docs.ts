/**
 * The API documentation: the OpenAPI document at /swagger/json and Swagger UI at /swagger, built
 * from the routes' own schemas (openapi-document.ts). That module, with @elysiajs/openapi's
 * generator, is loaded on the first request for either, and each is made once then: a server
 * nobody asks for its docs never evaluates it nor holds the document. Swagger UI's stylesheet and
 * script come from swagger-ui-dist, embedded in the binary (`with { type: "file" }` gives a path
 * inside the executable's virtual file system, or into node_modules when run from sources) and
 * served by caas itself, so the page loads nothing from another host.
 */
import { Elysia } from "elysia";
import swaggerUiBundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import swaggerUiCssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import { SECURITY_HEADERS } from "../../http/headers.ts";

export const DOCS_PATH = "/swagger";
export const SPEC_PATH = "/swagger/json";
export const DOCS_ASSETS_PATH = "/swagger/assets";

interface DocsAsset {
  readonly path: string;
  readonly file: string;
  readonly contentType: string;
}

/** What the page loads, all from this origin. */
export const DOCS_ASSETS: readonly DocsAsset[] = [
  { path: `${DOCS_ASSETS_PATH}/swagger-ui.css`, file: swaggerUiCssPath, contentType: "text/css; charset=utf-8" },
  { path: `${DOCS_ASSETS_PATH}/swagger-ui-bundle.js`, file: swaggerUiBundlePath, contentType: "text/javascript; charset=utf-8" },
];

const STYLESHEET = DOCS_ASSETS[0]!;
const SCRIPT = DOCS_ASSETS[1]!;

/** Makes a value on its first use and keeps it. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make();
    return made;
  };
}

/**
 * The server the document describes is the one serving it, at the origin this request reached
 * (what Swagger UI's Try it out calls); a request without an absolute URL gets "/", this host.
 */
function serverOf(request: Request): { url: string; description: string } {
  const description = "This caas, as the document was asked for";
  try {
    const { protocol, origin } = new URL(request.url);
    if (protocol === "https:" || protocol === "http:") return { url: origin, description };
  } catch {
    // Not an absolute URL: fall through.
  }
  return { url: "/", description };
}

export function docsRoutes() {
  const docs = new Elysia({ name: "caas.docs" });
  const builder = once(() => import("./openapi-document.ts"));
  // Made once the app is built: the generator reads every route of the app this plugin is used in.
  const spec = once(async () => (await builder()).openApiDocument(docs));
  const page = once(async () => (await builder()).docsPage(SPEC_PATH.slice(1), { stylesheet: STYLESHEET.path, script: SCRIPT.path }));
  docs
    .get(
      DOCS_PATH,
      async ({ path }) => {
        // The page finds its document by the relative URL "swagger/json", which only resolves from /swagger itself.
        if (path === `${DOCS_PATH}/`) return new Response(null, { status: 308, headers: { ...SECURITY_HEADERS, location: DOCS_PATH } });
        return new Response(await page(), { headers: { "content-type": "text/html; charset=utf8" } });
      },
      { detail: { hide: true } },
    )
    .get(SPEC_PATH, async ({ request }) => ({ ...(await spec()), servers: [serverOf(request)] }), { detail: { hide: true } });
  for (const asset of DOCS_ASSETS) {
    const bytes = once(() => Bun.file(asset.file).bytes());
    docs.get(asset.path, async () => new Response(await bytes(), { headers: { "content-type": asset.contentType } }), {
      detail: { hide: true },
    });
  }
  return docs;
}
