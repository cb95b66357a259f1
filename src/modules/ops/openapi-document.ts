/**
 * The OpenAPI document caas serves at /swagger/json and the Swagger UI page at /swagger, made on
 * the first request for either (docs.ts loads this module then): @elysiajs/openapi's generator
 * reads the routes' own schemas, and the functions here finish what it leaves out.
 */
import { toOpenAPISchema } from "@elysiajs/openapi/openapi";
import { SwaggerUIRender } from "@elysiajs/openapi/swagger";
import type { AnyElysia } from "elysia";
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
import { ERROR_ANSWER_NAME, ErrorAnswer, type ErrorAnswerCode, SECURITY_SCHEMES, withErrorAnswers } from "../../http/model.ts";
import { withoutTrailingSlash } from "../../http/paths.ts";

/** The plugin writes this into HTML attributes unescaped, so it holds no quote, angle bracket or ampersand. */
const DESCRIPTION =
  "Crypto as a service: an AES-256-GCM oracle, keyed per-user pseudonyms and a keyring of named keys. Every failure answers with a JSON error object, a stable code (ErrorCode) and a message, and never repeats the request; each operation lists the codes it answers with. Any path also answers not_found (404), method_not_allowed (405, with Allow), invalid_target (400: a fragment or a dot segment) and, for a bug, internal (500). Every path is served with and without a trailing slash (/oracleinvocation/ is listed too, as the Flask original's clients call it). An API key goes in Authorization: Bearer or X-API-Key; the pseudonym routes also take it as apiKey in the JSON body, as the Django original did.";

const INFO = { title: "caas", description: DESCRIPTION, version: VERSION };

const TAGS = [
  { name: "oracle", description: "Encrypt text under a fresh AES-256-GCM key, and decrypt it again" },
  { name: "pseudonym", description: "Deterministic keyed pseudonyms of a user's data (API key with scope pseudonym)" },
  {
    name: "keyring",
    description: "Encrypt, decrypt, rewrap and data keys, sign, MAC and JWTs under named keys caas holds (API key with scope keyring:NAME)",
  },
  { name: "jwks", description: "The public keys of published signing keys, for any verifier (no API key)" },
  { name: "operations", description: "Health, readiness and metrics" },
];

const OPENAPI_VERSION = "3.1.2";

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

/** The generated document finished, in a copy that holds plain JSON only. */
function finishDocument(generated: object, routes: readonly RouteForDocs[]): SpecDocument {
  const spec = JSON.parse(JSON.stringify(generated)) as SpecDocument;
  describeJsonBodies(spec, routes);
  describeErrorAnswers(spec);
  nameSchemas(spec);
  listAliases(spec);
  spec.components = { ...spec.components, securitySchemes: { ...SECURITY_SCHEMES } };
  return spec;
}

interface GeneratorInput {
  getGlobalRoutes(): AnyElysia["routes"];
  getGlobalDefinitions(): unknown;
}

/**
 * The app as the generator reads it (its routes and models), each route's `response` with the
 * error answers the route declared (http/model.ts keeps them out of Elysia's sight).
 */
function withAllAnswers(app: AnyElysia): AnyElysia {
  // Protected in Elysia's types; the generator calls them, and a plugin's answer the root app's.
  const whole = app as unknown as GeneratorInput;
  const routes = whole
    .getGlobalRoutes()
    .map((route) =>
      route.hooks?.response === undefined
        ? route
        : { ...route, hooks: { ...route.hooks, response: withErrorAnswers(route.hooks.response) } },
    );
  const view = { getGlobalRoutes: () => routes, getGlobalDefinitions: () => whole.getGlobalDefinitions() };
  return view as unknown as AnyElysia;
}

/**
 * The document as caas serves it, apart from servers, for the app `docs` is used in. Routes with
 * detail.hide (the docs' own) are left out; staticFile: false, or the generator would drop every
 * path with a '.' in it, /.well-known/jwks.json included.
 */
export function openApiDocument(docs: AnyElysia): SpecDocument {
  const { paths, components } = toOpenAPISchema(withAllAnswers(docs), { staticFile: false }, undefined, undefined, OPENAPI_VERSION);
  const generated = { info: INFO, tags: TAGS, openapi: OPENAPI_VERSION, paths, components: { schemas: components.schemas } };
  return finishDocument(generated, appRoutes(docs));
}

/** The Swagger UI page: it loads its stylesheet and script from these paths and the document from `specUrl`, relative to itself. */
export function docsPage(specUrl: string, assets: { readonly stylesheet: string; readonly script: string }): string {
  return SwaggerUIRender(INFO, {
    url: specUrl,
    dom_id: "#swagger-ui",
    version: "latest",
    autoDarkMode: true,
    theme: assets.stylesheet,
    cdn: assets.script,
    // Swagger UI would otherwise ask validator.swagger.io about the document.
    validatorUrl: "none",
    deepLinking: true,
  });
}
