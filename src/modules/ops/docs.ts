/**
 * The API documentation: the OpenAPI document at /swagger/json and Swagger UI at /swagger, built
 * by @elysiajs/openapi from the routes' own schemas. Swagger UI's stylesheet and script come from
 * swagger-ui-dist, embedded in the binary (`with { type: "file" }` gives a path inside the
 * executable's virtual file system, or into node_modules when run from sources) and served by
 * caas itself, so the page loads nothing from another host.
 */
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import swaggerUiBundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import swaggerUiCssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import { VERSION } from "../../build-info.ts";
import { SECURITY_HEADERS } from "../../http/headers.ts";

export const DOCS_PATH = "/swagger";
export const SPEC_PATH = "/swagger/json";
export const DOCS_ASSETS_PATH = "/swagger/assets";

/** The plugin writes this into HTML attributes unescaped, so it holds no quote, angle bracket or ampersand. */
const DESCRIPTION =
  "Crypto as a service: an AES-256-GCM oracle and keyed per-user pseudonyms. Every failure answers with a JSON error object, a stable code and a message, and never repeats the request.";

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

/** Reads an embedded file once, on its first request, and keeps the bytes. */
function embeddedBytes(file: string): () => Promise<Uint8Array<ArrayBuffer>> {
  let bytes: Promise<Uint8Array<ArrayBuffer>> | undefined;
  return () => {
    bytes ??= Bun.file(file).bytes();
    return bytes;
  };
}

// The JSON shapes this module touches in the generated document, typed as far as it reads them.
type JsonSchemaObject = Record<string, unknown>;
interface MediaType {
  schema?: JsonSchemaObject;
  example?: unknown;
}
interface Operation {
  requestBody?: { content?: Record<string, MediaType> };
}
interface SpecDocument {
  paths?: Record<string, Record<string, Operation | undefined> | undefined>;
}
interface RouteForDocs {
  readonly method: string;
  readonly path: string;
  readonly hooks?: { readonly body?: unknown };
}

/**
 * Every route of the app this plugin is used in. Elysia keeps that table behind a protected
 * method, which it rebinds on each plugin to the parent's; @elysiajs/openapi reads it the same way.
 */
function appRoutes(plugin: object): readonly RouteForDocs[] {
  return (plugin as { getGlobalRoutes(): readonly RouteForDocs[] }).getGlobalRoutes();
}

function isSpecDocument(value: unknown): value is SpecDocument {
  return typeof value === "object" && value !== null && "openapi" in value && "paths" in value;
}

function isSchemaObject(value: unknown): value is JsonSchemaObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Our JSON routes read their body with caas's own strict parser (a function), and the generator
 * only knows how to name the media type of Elysia's built-in parsers, so it leaves their request
 * body without content. This fills in application/json with the route's schema and its first example.
 */
function describeJsonBodies(spec: SpecDocument, routes: readonly RouteForDocs[]): void {
  for (const route of routes) {
    const body = route.hooks?.body;
    if (!isSchemaObject(body)) continue;
    const openApiPath = route.path.replace(/:([^/?]+)\??/g, "{$1}");
    const requestBody = spec.paths?.[openApiPath]?.[route.method.toLowerCase()]?.requestBody;
    if (requestBody === undefined) continue;
    if (requestBody.content !== undefined && Object.keys(requestBody.content).length > 0) continue;
    // A JSON round trip drops TypeBox's symbol-keyed metadata and leaves plain JSON Schema.
    const schema: unknown = JSON.parse(JSON.stringify(body));
    if (!isSchemaObject(schema)) continue;
    const media: MediaType = { schema };
    const examples = schema.examples;
    if (Array.isArray(examples) && examples.length > 0) media.example = examples[0];
    requestBody.content = { "application/json": media };
  }
}

export function docsRoutes() {
  const assetRoutes = DOCS_ASSETS.map((asset) => ({ asset, bytes: embeddedBytes(asset.file) }));

  const docs = new Elysia({ name: "caas.docs" })
    .onAfterHandle(({ path, responseValue }) => {
      // The page finds its document by the relative URL "swagger/json", which only resolves from /swagger itself.
      if (path === `${DOCS_PATH}/`) return new Response(null, { status: 308, headers: { ...SECURITY_HEADERS, location: DOCS_PATH } });
      if (path === SPEC_PATH && isSpecDocument(responseValue)) describeJsonBodies(responseValue, appRoutes(docs));
    })
    .use(
      openapi({
        provider: "swagger-ui",
        path: DOCS_PATH,
        specPath: SPEC_PATH,
        documentation: {
          info: {
            title: "caas",
            version: VERSION,
            description: DESCRIPTION,
          },
          tags: [
            { name: "oracle", description: "Encrypt text under a fresh AES-256-GCM key, and decrypt it again" },
            { name: "operations", description: "Health, readiness and metrics" },
          ],
        },
        exclude: { paths: [DOCS_PATH, SPEC_PATH, new RegExp(`^${DOCS_ASSETS_PATH}/`)] },
        swagger: {
          theme: STYLESHEET.path,
          cdn: SCRIPT.path,
          // Swagger UI would otherwise ask validator.swagger.io about the document.
          validatorUrl: "none",
          deepLinking: true,
        },
      }),
    );

  for (const { asset, bytes } of assetRoutes) {
    docs.get(asset.path, async () => new Response(await bytes(), { headers: { "content-type": asset.contentType } }), {
      detail: { hide: true },
    });
  }
  return docs;
}
