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
import {
  AuditUnavailable,
  BatchTooLarge,
  BodyBudgetExhausted,
  BodyTooLarge,
  DecryptionFailed,
  EmptyBody,
  errorBody,
  InvalidCiphertext,
  InvalidSignature,
  InvalidEncoding,
  InvalidJson,
  InvalidTarget,
  InvalidText,
  InvalidUtf8,
  InvalidUuid,
  KeyVersionRetired,
  KeyVersionUnknown,
  SecretVersionRetired,
  SecretVersionUnknown,
  MethodNotAllowed,
  NotFound,
  NotReady,
  PlaintextNotText,
  RateLimited,
  ScopeMissing,
  Unauthorized,
  UnknownKey,
  UnsupportedOperation,
  UnsupportedMediaType,
} from "../../errors.ts";
import { SECURITY_HEADERS } from "../../http/headers.ts";
import { ERROR_ANSWER_NAME, ErrorAnswer, type ErrorAnswerCode, SECURITY_SCHEMES } from "../../http/model.ts";
import { withoutTrailingSlash } from "../../http/paths.ts";

export const DOCS_PATH = "/swagger";
export const SPEC_PATH = "/swagger/json";
export const DOCS_ASSETS_PATH = "/swagger/assets";

/** The plugin writes this into HTML attributes unescaped, so it holds no quote, angle bracket or ampersand. */
const DESCRIPTION =
  "Crypto as a service: an AES-256-GCM oracle, keyed per-user pseudonyms and a keyring of named keys. Every failure answers with a JSON error object, a stable code (ErrorCode) and a message, and never repeats the request; each operation lists the codes it answers with. Any path also answers not_found (404), method_not_allowed (405, with Allow), invalid_target (400: a fragment or a dot segment) and, for a bug, internal (500). Every path is served with and without a trailing slash (/oracleinvocation/ is listed too, as the Flask original's clients call it). An API key goes in Authorization: Bearer or X-API-Key; the pseudonym routes also take it as apiKey in the JSON body, as the Django original did.";

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
  examples?: Record<string, { summary: string; value: unknown }>;
}
interface Operation {
  operationId?: string;
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, { description?: string; content?: Record<string, MediaType> }>;
}
type PathItem = Record<string, Operation | undefined>;
interface SpecDocument {
  info?: Record<string, unknown>;
  paths?: Record<string, PathItem | undefined>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
  servers?: { url: string; description?: string }[];
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

/** Every operation of the document, with its path and method. */
function* operationsOf(spec: SpecDocument): Generator<[string, string, Operation]> {
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const [method, operation] of Object.entries(item ?? {})) if (operation !== undefined) yield [path, method, operation];
  }
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

/** What each code's answer says, for the examples: the error's own message, with this build's default limits. */
const EXAMPLE_MESSAGES: Readonly<Record<ErrorAnswerCode, string>> = {
  invalid_json: new InvalidJson().message,
  empty_body: new EmptyBody().message,
  invalid_utf8: new InvalidUtf8().message,
  invalid_text: new InvalidText("data").message,
  invalid_body: "Field 'data' is required.",
  invalid_encoding: new InvalidEncoding("key", "base64").message,
  invalid_uuid: new InvalidUuid().message,
  invalid_target: new InvalidTarget("dot_segment").message,
  body_too_large: new BodyTooLarge(1024 * 1024).message,
  batch_too_large: new BatchTooLarge(1000).message,
  unsupported_media_type: new UnsupportedMediaType().message,
  method_not_allowed: new MethodNotAllowed(["POST"]).message,
  not_found: new NotFound().message,
  authentication_failed: new DecryptionFailed().message,
  plaintext_not_utf8: new PlaintextNotText().message,
  invalid_ciphertext: new InvalidCiphertext().message,
  invalid_signature: new InvalidSignature().message,
  unsupported_operation: new UnsupportedOperation("xaes-256-gcm", "sign").message,
  key_version_retired: new KeyVersionRetired().message,
  key_version_unknown: new KeyVersionUnknown().message,
  secret_version_unknown: new SecretVersionUnknown().message,
  secret_version_retired: new SecretVersionRetired().message,
  unknown_key: new UnknownKey().message,
  unauthorized: new Unauthorized().message,
  forbidden: new ScopeMissing().message,
  rate_limited: new RateLimited(1).message,
  not_ready: new NotReady().message,
  busy: new BodyBudgetExhausted().message,
  audit_unavailable: new AuditUnavailable().message,
  internal: "Internal error.",
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function errorCodesOf(schema: JsonSchemaObject): string[] | undefined {
  if (schema.title !== ERROR_ANSWER_NAME) return undefined;
  const error = (schema.properties as Record<string, JsonSchemaObject> | undefined)?.error;
  const code = (error?.properties as Record<string, JsonSchemaObject> | undefined)?.code;
  return Array.isArray(code?.enum) ? code.enum.map(String) : undefined;
}

/**
 * Each route's error answers as the one ErrorAnswer schema narrowed to the codes that route
 * gives at that status (allOf: a client's type for it is the union of those codes), with one
 * example answer per code.
 */
function describeErrorAnswers(spec: SpecDocument): void {
  for (const [, , operation] of operationsOf(spec)) {
    for (const response of Object.values(operation.responses ?? {})) {
      const media = response.content?.["application/json"];
      const codes = media?.schema === undefined ? undefined : errorCodesOf(media.schema);
      if (media === undefined || codes === undefined) continue;
      media.schema = {
        allOf: [
          ref(ERROR_ANSWER_NAME),
          {
            type: "object",
            required: ["error"],
            properties: { error: { type: "object", required: ["code"], properties: { code: { type: "string", enum: codes } } } },
          },
        ],
      };
      media.examples = Object.fromEntries(
        codes.map((code) => [code, { summary: code, value: errorBody(code, EXAMPLE_MESSAGES[code as ErrorAnswerCode] ?? "") }]),
      );
    }
  }
}

const SCHEMA_NAME = /^[A-Z][A-Za-z0-9]*$/;

/**
 * Moves every schema the routes named (TypeBox's `title`) into components.schemas and leaves a
 * $ref in its place, innermost first, so each named shape is written once. Two different
 * schemas under one name are a mistake in the routes, and fail the document (and its tests).
 */
function nameSchemas(spec: SpecDocument): void {
  const named = new Map<string, { schema: JsonSchemaObject; json: string }>();
  const hoist = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(hoist);
    if (!isSchemaObject(node)) return node;
    const out: JsonSchemaObject = {};
    for (const [key, value] of Object.entries(node)) out[key] = key === "examples" || key === "example" ? value : hoist(value);
    const title = out.title;
    if (typeof title !== "string" || !SCHEMA_NAME.test(title)) return out;
    const json = JSON.stringify(out);
    const earlier = named.get(title);
    if (earlier !== undefined && earlier.json !== json) throw new Error(`two different schemas are named ${title}`);
    named.set(title, { schema: out, json });
    return ref(title);
  };
  for (const [, , operation] of operationsOf(spec)) {
    for (const media of Object.values(operation.requestBody?.content ?? {}))
      if (media.schema) media.schema = hoist(media.schema) as JsonSchemaObject;
    for (const response of Object.values(operation.responses ?? {})) {
      for (const media of Object.values(response.content ?? {})) if (media.schema) media.schema = hoist(media.schema) as JsonSchemaObject;
    }
  }
  // The error answer is named even where no batch answer holds it: every narrowed one refers to it.
  hoist(JSON.parse(JSON.stringify(ErrorAnswer)));
  const schemas: Record<string, unknown> = { ...spec.components?.schemas };
  for (const name of [...named.keys()].sort()) schemas[name] = named.get(name)?.schema;
  spec.components = { ...spec.components, schemas };
}

/**
 * The trailing-slash spellings listed as paths of their own, beside the rule that every path
 * has one: the Flask original's README (and so its clients) calls the oracle at this one.
 */
const LISTED_ALIASES = ["/oracleinvocation/"];

function listAliases(spec: SpecDocument): void {
  for (const alias of LISTED_ALIASES) {
    const item = spec.paths?.[withoutTrailingSlash(alias)];
    if (item === undefined || spec.paths === undefined) continue;
    const copy: PathItem = {};
    for (const [method, operation] of Object.entries(item)) {
      if (operation === undefined) continue;
      copy[method] = {
        ...operation,
        ...(operation.operationId === undefined ? {} : { operationId: `${operation.operationId}_with_slash` }),
      };
    }
    spec.paths[alias] = copy;
  }
}

/** The document as caas serves it, apart from servers: built once per generated document. */
function finishDocument(generated: SpecDocument, routes: readonly RouteForDocs[]): SpecDocument {
  const spec = JSON.parse(JSON.stringify(generated)) as SpecDocument;
  describeJsonBodies(spec, routes);
  describeErrorAnswers(spec);
  nameSchemas(spec);
  listAliases(spec);
  spec.components = { ...spec.components, securitySchemes: { ...SECURITY_SCHEMES } };
  return spec;
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
  const assetRoutes = DOCS_ASSETS.map((asset) => ({ asset, bytes: embeddedBytes(asset.file) }));

  // The generator keeps one document until the app's routes change; this keeps its finished form beside it.
  const finished = new WeakMap<SpecDocument, SpecDocument>();
  const docs = new Elysia({ name: "caas.docs" })
    .onAfterHandle(({ path, request, responseValue }) => {
      // The page finds its document by the relative URL "swagger/json", which only resolves from /swagger itself.
      if (path === `${DOCS_PATH}/`) return new Response(null, { status: 308, headers: { ...SECURITY_HEADERS, location: DOCS_PATH } });
      if (path !== SPEC_PATH || !isSpecDocument(responseValue)) return;
      let spec = finished.get(responseValue);
      if (spec === undefined) {
        spec = finishDocument(responseValue, appRoutes(docs));
        finished.set(responseValue, spec);
      }
      return { ...spec, servers: [serverOf(request)] };
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
            { name: "pseudonym", description: "Deterministic keyed pseudonyms of a user's data (API key with scope pseudonym)" },
            {
              name: "keyring",
              description:
                "Encrypt, decrypt, rewrap and data keys, sign, MAC and JWTs under named keys caas holds (API key with scope keyring:NAME)",
            },
            { name: "jwks", description: "The public keys of published signing keys, for any verifier (no API key)" },
            { name: "operations", description: "Health, readiness and metrics" },
          ],
        },
        // staticFile: the plugin would drop every path with a '.' in it, /.well-known/jwks.json included.
        exclude: { paths: [DOCS_PATH, SPEC_PATH, new RegExp(`^${DOCS_ASSETS_PATH}/`)], staticFile: false },
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
