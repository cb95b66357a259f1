/**
 * The error answer's schema and each route's share of it, for the OpenAPI document: a route
 * declares the codes it answers with (errorAnswers), grouped here by their status, so the
 * document lists each route's own codes and the route definition stays their one source.
 */
import { t } from "elysia";
import type { RequestErrorCode } from "../errors.ts";
import { STATUS_OF } from "./error-answers.ts";

/** Every code an error answer carries: a refusal's, or "internal" for a bug (a 500 that says nothing more). */
export type ErrorAnswerCode = RequestErrorCode | "internal";

export const ERROR_CODES: readonly ErrorAnswerCode[] = [...(Object.keys(STATUS_OF) as RequestErrorCode[]), "internal"];

/** The name of the error answer's schema in the document; each route's narrower copy carries it too. */
export const ERROR_ANSWER_NAME = "ErrorAnswer";
export const ERROR_CODE_NAME = "ErrorCode";

const message = t.String({ description: "Human explanation; never contains request data" });

/**
 * A string with an enum, not a union of literals: the batch answers hold ErrorAnswer, and their
 * items are built as ErrorBody, whose code is any string.
 */
function errorShape(codes: readonly ErrorAnswerCode[], description: string, codeName?: string) {
  return t.Object(
    {
      error: t.Object({
        code: t.String({
          description: "Stable machine-readable code",
          enum: [...codes],
          ...(codeName === undefined ? {} : { title: codeName }),
        }),
        message,
      }),
    },
    { title: ERROR_ANSWER_NAME, description },
  );
}

export const ErrorAnswer = errorShape(ERROR_CODES, "Every failure has this shape.", ERROR_CODE_NAME);

/**
 * What reading a JSON body is refused for (http/json-body.ts: media type, size, the process's
 * body budget, UTF-8, JSON), then the route's schema (invalid_body): every JSON route has them.
 */
export const BODY_CODES = [
  "unsupported_media_type",
  "body_too_large",
  "busy",
  "empty_body",
  "invalid_utf8",
  "invalid_json",
  "invalid_body",
] as const satisfies readonly RequestErrorCode[];

/**
 * What every audited route (one with an operationId) and every route the rate limit covers
 * (all but the probes) can answer, when CAAS_AUDIT_LOG and CAAS_RATE_LIMIT are set.
 */
export const SERVED_CODES = ["rate_limited", "audit_unavailable"] as const satisfies readonly RequestErrorCode[];

type ErrorSchema = ReturnType<typeof errorShape>;
type ErrorAnswersByStatus<Codes extends readonly RequestErrorCode[]> = {
  [Code in Codes[number] as (typeof STATUS_OF)[Code]]: ErrorSchema;
};

/**
 * Where a route's error answers ride on its `response`: its codes, under a symbol, which Elysia
 * does not enumerate, so it compiles no validator for them when it composes the route (caas
 * builds its error answers itself, and none would ever run: the oracle's first request compiled
 * 10 validators for the 2 it uses). Their schemas are made only when the OpenAPI document is
 * (withErrorAnswers), not at every start; the type lists them by status, for the typed clients.
 */
const ERROR_CODES_OF_ROUTE = Symbol("caas.errorCodes");

/** The failures a route can answer with, by status, each the error answer with this route's codes at that status; spread into `response`. */
export function errorAnswers<const Codes extends readonly RequestErrorCode[]>(...codes: Codes): ErrorAnswersByStatus<Codes> {
  return { [ERROR_CODES_OF_ROUTE]: codes } as unknown as ErrorAnswersByStatus<Codes>;
}

/** A route's `response` with the error answers errorAnswers named in it listed by status beside the rest, as its type says. */
export function withErrorAnswers(response: unknown): unknown {
  if (typeof response !== "object" || response === null || !(ERROR_CODES_OF_ROUTE in response)) return response;
  const codes = (response as { [ERROR_CODES_OF_ROUTE]: readonly RequestErrorCode[] })[ERROR_CODES_OF_ROUTE];
  const byStatus = new Map<number, RequestErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = STATUS_OF[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const answers: Record<number, ErrorSchema> = {};
  for (const [status, atStatus] of [...byStatus].sort(([a], [b]) => a - b)) {
    answers[status] = errorShape(atStatus, `The error answer, with one of: ${atStatus.join(", ")}.`);
  }
  return { ...Object.fromEntries(Object.entries(response)), ...answers };
}

/**
 * Per-operation security for the document (Authorization: Bearer or X-API-Key; a body `apiKey`
 * where the schema has one): required, optional (any key is checked only where the request
 * needs one, such as the oracle's envelope mode), or none.
 */
type SecurityRequirements = { [scheme in keyof typeof SECURITY_SCHEMES]?: string[] }[];
export const API_KEY_REQUIRED: SecurityRequirements = [{ bearer: [] }, { apiKeyHeader: [] }];
export const API_KEY_OPTIONAL: SecurityRequirements = [{}, ...API_KEY_REQUIRED];
export const NO_API_KEY: SecurityRequirements = [];

/** How a request presents an API key, as the document's securitySchemes (http/caller.ts reads them). */
export const SECURITY_SCHEMES = {
  bearer: { type: "http", scheme: "bearer", description: "Authorization: Bearer <API key>" },
  apiKeyHeader: {
    type: "apiKey",
    in: "header",
    name: "X-API-Key",
    description:
      "X-API-Key: <API key>. The pseudonym routes also take it as apiKey in the JSON body; where several are sent they must be equal.",
  },
} as const;
