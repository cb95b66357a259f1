/**
 * The one mapping from anything thrown to an answer. Known failures become their JSON 4xx;
 * Elysia's own validation, parse and routing errors are rewritten so none of its default
 * answers (a 422 that echoes the input, a bare 404) reach a client; anything else is a bug:
 * logged by name only and answered with a 500 that says nothing.
 */
import { ValidationError } from "elysia";
import { ValueErrorType } from "@sinclair/typebox/errors";
import type { LogFields, Logger } from "../log.ts";
import {
  BodyBudgetExhausted,
  errorBody,
  KeyVersionUnknown,
  SecretVersionUnknown,
  InvalidBody,
  InvalidJson,
  MethodNotAllowed,
  NotFound,
  RateLimited,
  RequestError,
  type RequestErrorCode,
} from "../errors.ts";
import { JSON_HEADERS } from "./headers.ts";
import { pathOf } from "./paths.ts";

/** Every code a request can be refused with, and its status: a Record, so a new code cannot go unmapped; each status a literal, so a route's answers are typed by it (http/model.ts). */
export const STATUS_OF = {
  invalid_json: 400,
  empty_body: 400,
  invalid_utf8: 400,
  invalid_text: 400,
  invalid_body: 400,
  invalid_encoding: 400,
  invalid_uuid: 400,
  invalid_target: 400,
  authentication_failed: 400,
  plaintext_not_utf8: 400,
  invalid_ciphertext: 400,
  invalid_signature: 400,
  unsupported_operation: 400,
  key_version_retired: 400,
  secret_version_retired: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  unknown_key: 404,
  method_not_allowed: 405,
  body_too_large: 413,
  batch_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  not_ready: 503,
  busy: 503,
  audit_unavailable: 503,
  key_version_unknown: 503,
  secret_version_unknown: 503,
} as const satisfies Readonly<Record<RequestErrorCode, number>>;

/** The headers an answer carries beyond the JSON ones, from what the error knows. */
function headersOf(error: RequestError): Readonly<Record<string, string>> {
  if (error instanceof MethodNotAllowed) return { allow: error.allowed.join(", ") };
  if (
    error instanceof RateLimited ||
    error instanceof BodyBudgetExhausted ||
    error instanceof KeyVersionUnknown ||
    error instanceof SecretVersionUnknown
  )
    return { "retry-after": String(error.retryAfterSeconds) };
  if (error.code === "unauthorized") return { "www-authenticate": 'Bearer realm="caas"' };
  return {};
}

export function answerFor(error: RequestError): Response {
  return new Response(JSON.stringify(errorBody(error.code, error.message)), {
    status: STATUS_OF[error.code],
    headers: { ...JSON_HEADERS, ...headersOf(error) },
  });
}

/** A JSON pointer into the body, reduced to the names of declared fields and array indices. */
function fieldOf(path: string): string {
  return path
    .replace(/^\//, "")
    .replace(/[^A-Za-z0-9_/]/g, "")
    .slice(0, 80);
}

export function describeValidation(error: ValidationError): InvalidBody {
  const first = error.valueError;
  if (first === undefined) return new InvalidBody("The request body does not match this endpoint's schema.");
  if (first.type === ValueErrorType.ObjectAdditionalProperties) {
    // The offending name is input: it is not repeated back.
    return new InvalidBody("The body has a field this endpoint does not accept; see /swagger for the schema.");
  }
  const field = fieldOf(first.path);
  if (field === "") return new InvalidBody("The request body must be a JSON object.");
  if (first.type === ValueErrorType.ObjectRequiredProperty) return new InvalidBody(`Field '${field}' is required.`);
  return new InvalidBody(`Field '${field}' is invalid: ${first.message.toLowerCase()}.`);
}

export type AllowedMethods = (path: string) => readonly string[] | undefined;

/**
 * The answer to a bug: a JSON 500 that says nothing, and one log line by error name, request id
 * and the caller's `about` fields (route, trace id, API key name) only (a message could quote
 * input). Neither the logging nor the answer may throw, since this is the last thing between a
 * bug and Bun's own plain-text 500 with a stack trace in the log.
 */
export function internalError(logger: Logger, requestId: string | undefined, error: unknown, about: LogFields = {}): Response {
  try {
    logger.error("internal_error", {
      ...about,
      status: 500,
      code: "internal",
      requestId,
      error: error instanceof Error ? error.name : typeof error,
    });
  } catch {
    // A log line lost is better than a request lost.
  }
  // No x-request-id here: Elysia adds the app's to what onError returns; instrument.ts adds its own.
  return new Response(INTERNAL_ERROR_BODY, { status: 500, headers: JSON_HEADERS });
}

const INTERNAL_ERROR_BODY = JSON.stringify(errorBody("internal", "Internal error."));

/** The RequestError anything thrown stands for, or undefined when it is a bug. */
function knownFailure(code: string | number, error: unknown, request: Request, allowedMethods: AllowedMethods): RequestError | undefined {
  if (error instanceof RequestError) return error;
  // Elysia wraps whatever a parse hook throws in its ParseError; ours carry the real reason.
  if (error instanceof Error && error.cause instanceof RequestError) return error.cause;
  if (error instanceof ValidationError) return describeValidation(error);
  if (code === "NOT_FOUND") {
    // Read from the URL as Bun gives it, which is not always absolute (no usable Host): see pathOf.
    const allowed = allowedMethods(pathOf(request.url));
    return allowed === undefined ? new NotFound() : new MethodNotAllowed(allowed);
  }
  if (code === "PARSE") return new InvalidJson();
  return undefined;
}

/** An error answer and the stable code it carries ("internal" for a bug), for the audit and log lines about it. */
export interface ErrorAnswered {
  readonly response: Response;
  readonly code: RequestErrorCode | "internal";
}

/** What failed: Elysia's code for it (or an HTTP status), the error, and the request. */
export interface Failure {
  readonly code: string | number;
  readonly error: unknown;
  readonly request: Request;
}

/** What an error answer needs beside the failure: the routes' methods for a 405, and where and how a bug is logged. */
export interface ErrorAnswerContext {
  readonly allowedMethods: AllowedMethods;
  readonly logger: Logger;
  readonly requestId?: string | undefined;
  readonly about?: LogFields;
}

/** Never throws: a failure while answering a failure is itself answered as a bug. */
export function errorAnswer(
  { code, error, request }: Failure,
  { allowedMethods, logger, requestId, about = {} }: ErrorAnswerContext,
): ErrorAnswered {
  try {
    const failure = knownFailure(code, error, request, allowedMethods);
    if (failure !== undefined) return { response: answerFor(failure), code: failure.code };
  } catch (failure) {
    return { response: internalError(logger, requestId, failure, about), code: "internal" };
  }
  return { response: internalError(logger, requestId, error, about), code: "internal" };
}
