/**
 * One error model for every answer caas gives on failure: a stable machine code, an HTTP status
 * and a human message written here, never built from the request (so no input is ever echoed).
 */
import type { TargetProblem } from "./paths.ts";

export abstract class CaasError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  readonly headers: Readonly<Record<string, string>> = {};
}

export class InvalidJson extends CaasError {
  readonly code = "invalid_json";
  readonly status = 400;
  override readonly message = "The request body is not valid JSON.";
}

export class EmptyBody extends CaasError {
  readonly code = "empty_body";
  readonly status = 400;
  override readonly message = "The request body is empty; send a JSON object.";
}

export class InvalidUtf8 extends CaasError {
  readonly code = "invalid_utf8";
  readonly status = 400;
  override readonly message = "The request body is not valid UTF-8.";
}

export class InvalidText extends CaasError {
  readonly code = "invalid_text";
  readonly status = 400;
  constructor(field: string) {
    super(`Field '${field}' holds a lone UTF-16 surrogate, which has no UTF-8 form.`);
  }
}

export class InvalidBody extends CaasError {
  readonly code = "invalid_body";
  readonly status = 400;
}

export class InvalidEncoding extends CaasError {
  readonly code = "invalid_encoding";
  readonly status = 400;
  constructor(field: string, encoding: string) {
    super(`Field '${field}' is not valid ${encoding}.`);
  }
}

export class BodyTooLarge extends CaasError {
  readonly code = "body_too_large";
  readonly status = 413;
  constructor(limitBytes: number) {
    super(`The request body is larger than the limit of ${limitBytes} bytes.`);
  }
}

export class UnsupportedMediaType extends CaasError {
  readonly code = "unsupported_media_type";
  readonly status = 415;
  override readonly message = "Send the body as Content-Type: application/json (UTF-8).";
}

export class MethodNotAllowed extends CaasError {
  readonly code = "method_not_allowed";
  readonly status = 405;
  override readonly headers: Readonly<Record<string, string>>;
  constructor(allowed: readonly string[]) {
    super(`This path accepts ${allowed.join(", ")}.`);
    this.headers = { allow: allowed.join(", ") };
  }
}

export class NotFound extends CaasError {
  readonly code = "not_found";
  readonly status = 404;
  override readonly message = "No such endpoint.";
}

const INVALID_TARGET_MESSAGES: Readonly<Record<TargetProblem, string>> = {
  fragment: "The request target has a fragment ('#'); send the path without it.",
  dot_segment: "The request target has a '.' or '..' path segment; send the endpoint's path as documented.",
  no_path: "The request target has no path; send the endpoint's path as documented.",
};

/** A request-target caas does not route: see targetProblem in src/http/paths.ts. */
export class InvalidTarget extends CaasError {
  readonly code = "invalid_target";
  readonly status = 400;
  constructor(problem: TargetProblem) {
    super(INVALID_TARGET_MESSAGES[problem]);
  }
}

export class AuthenticationFailedError extends CaasError {
  readonly code = "authentication_failed";
  readonly status = 400;
  override readonly message = "The ciphertext did not authenticate under this key, nonce, tag and aad.";
}

export class Unauthorized extends CaasError {
  readonly code = "unauthorized";
  readonly status = 401;
  override readonly message = "A valid API key is required.";
  override readonly headers = { "www-authenticate": 'Bearer realm="caas"' };
}

export class Forbidden extends CaasError {
  readonly code = "forbidden";
  readonly status = 403;
}

export class RateLimited extends CaasError {
  readonly code = "rate_limited";
  readonly status = 429;
  override readonly message = "Too many requests; retry after the time in Retry-After.";
  override readonly headers: Readonly<Record<string, string>>;
  constructor(retryAfterSeconds: number) {
    super();
    this.headers = { "retry-after": String(retryAfterSeconds) };
  }
}

export class NotReady extends CaasError {
  readonly code = "not_ready";
  readonly status = 503;
  override readonly message = "The service is not ready.";
}

export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

export class PlaintextNotText extends CaasError {
  readonly code = "plaintext_not_utf8";
  readonly status = 400;
  override readonly message = "The ciphertext authenticated, but its plaintext is not UTF-8 text.";
}

export class BatchTooLarge extends CaasError {
  readonly code = "batch_too_large";
  readonly status = 413;
  constructor(maxItems: number) {
    super(`A batch holds at most ${maxItems} items; split it into several requests.`);
  }
}

/** The process holds as many request bodies as CAAS_MAX_BODY_IN_FLIGHT allows; this one was not read. */
export class BodyBudgetExhausted extends CaasError {
  readonly code = "busy";
  readonly status = 503;
  override readonly message = "The server is holding as many request bodies as it may; retry after the time in Retry-After.";
  override readonly headers = { "retry-after": "1" };
}
