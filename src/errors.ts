/**
 * One error model for caas: every failure it knows is a CaasError with a stable `code` and a
 * human message written here, never built from a request or a file's contents, so nothing is
 * ever echoed. No transport detail lives here: the HTTP layer maps codes to statuses and headers
 * (src/http/error-answers.ts), the CLI maps them to exit statuses (src/cli/exit-codes.ts). The crypto
 * primitives keep their own two errors (AuthenticationFailed, EncodingError), which import
 * nothing of ours; the services translate them into these.
 */

export abstract class CaasError extends Error {
  abstract readonly code: string;
  constructor(message?: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** What a request can be refused for; http/error-answers.ts gives each its status, and must give every one. */
export type RequestErrorCode =
  | "invalid_json"
  | "empty_body"
  | "invalid_utf8"
  | "invalid_text"
  | "invalid_body"
  | "invalid_encoding"
  | "invalid_uuid"
  | "invalid_target"
  | "body_too_large"
  | "batch_too_large"
  | "unsupported_media_type"
  | "method_not_allowed"
  | "not_found"
  | "authentication_failed"
  | "plaintext_not_utf8"
  | "invalid_ciphertext"
  | "invalid_signature"
  | "unsupported_operation"
  | "key_version_retired"
  | "key_version_unknown"
  | "secret_version_unknown"
  | "secret_version_retired"
  | "unknown_key"
  | "unauthorized"
  | "forbidden"
  | "rate_limited"
  | "not_ready"
  | "busy"
  | "audit_unavailable";

/** A failure answered to a client. */
export abstract class RequestError extends CaasError {
  abstract override readonly code: RequestErrorCode;
}

export class InvalidJson extends RequestError {
  readonly code = "invalid_json";
  override readonly message = "The request body is not valid JSON.";
}

export class EmptyBody extends RequestError {
  readonly code = "empty_body";
  override readonly message = "The request body is empty; send a JSON object.";
}

export class InvalidUtf8 extends RequestError {
  readonly code = "invalid_utf8";
  override readonly message = "The request body is not valid UTF-8.";
}

/** A string with a lone UTF-16 surrogate: it has no UTF-8 form, so it cannot be encrypted or hashed as sent. */
export class InvalidText extends RequestError {
  readonly code = "invalid_text";
  constructor(field: string) {
    super(`Field '${field}' holds a lone UTF-16 surrogate, which has no UTF-8 form.`);
  }
}

export class InvalidBody extends RequestError {
  readonly code = "invalid_body";
}

export class InvalidEncoding extends RequestError {
  readonly code = "invalid_encoding";
  constructor(field: string, encoding: string) {
    super(`Field '${field}' is not valid ${encoding}.`);
  }
}

export class InvalidUuid extends RequestError {
  readonly code = "invalid_uuid";
  override readonly message = "Field 'userUUID' must be a UUID: 32 hexadecimal digits grouped 8-4-4-4-12 with hyphens.";
}

/**
 * Why caas refuses a request-target. RFC 9112 gives a target no fragment; dot segments are
 * refused, not resolved, so a path rule in a proxy in front of caas and caas's own routing cannot
 * read one target as two different paths; a target without a path is CONNECT's authority form.
 */
export type TargetProblem = "fragment" | "dot_segment" | "no_path";

const INVALID_TARGET_MESSAGES: Readonly<Record<TargetProblem, string>> = {
  fragment: "The request target has a fragment ('#'); send the path without it.",
  dot_segment: "The request target has a '.' or '..' path segment; send the endpoint's path as documented.",
  no_path: "The request target has no path; send the endpoint's path as documented.",
};

export class InvalidTarget extends RequestError {
  readonly code = "invalid_target";
  constructor(problem: TargetProblem) {
    super(INVALID_TARGET_MESSAGES[problem]);
  }
}

export class BodyTooLarge extends RequestError {
  readonly code = "body_too_large";
  constructor(limitBytes: number) {
    super(`The request body is larger than the limit of ${limitBytes} bytes.`);
  }
}

export class BatchTooLarge extends RequestError {
  readonly code = "batch_too_large";
  constructor(maxItems: number) {
    super(`A batch holds at most ${maxItems} items; split it into several requests.`);
  }
}

/** Why a body's Content-Type is refused: not a JSON media type the route reads, or a charset other than UTF-8. */
export type MediaTypeProblem = "media_type" | "charset";

export class UnsupportedMediaType extends RequestError {
  readonly code = "unsupported_media_type";
  constructor(problem: MediaTypeProblem = "media_type") {
    super(
      problem === "charset"
        ? "caas reads request bodies in UTF-8 only: declare charset=utf-8, or no charset."
        : "Send the body as Content-Type: application/json (UTF-8).",
    );
  }
}

export class MethodNotAllowed extends RequestError {
  readonly code = "method_not_allowed";
  constructor(readonly allowed: readonly string[]) {
    super(`This path accepts ${allowed.join(", ")}.`);
  }
}

export class NotFound extends RequestError {
  readonly code = "not_found";
  override readonly message = "No such endpoint.";
}

/** Decryption: the key, nonce, tag, ciphertext or aad is not the one sealed (which of them is never said). */
export class DecryptionFailed extends RequestError {
  readonly code = "authentication_failed";
  override readonly message = "The ciphertext did not authenticate under this key, nonce, tag and aad.";
}

export class PlaintextNotText extends RequestError {
  readonly code = "plaintext_not_utf8";
  override readonly message = "The ciphertext authenticated, but its plaintext is not UTF-8 text.";
}

export class Unauthorized extends RequestError {
  readonly code = "unauthorized";
  override readonly message = "A valid API key is required.";
}

/** The caller's key lacks the scope a route needs; said the same whether or not a keyring key of that name exists. */
export class ScopeMissing extends RequestError {
  readonly code = "forbidden";
  override readonly message = "This API key has no scope for this operation.";
}

/** The caller may use this keyring key's name, but the keyring holds no key of that name. */
export class UnknownKey extends RequestError {
  readonly code = "unknown_key";
  override readonly message = "The keyring holds no key of this name.";
}

/** Not a caas keyring ciphertext ("caas:v<version>:<base64>"): its shape is wrong, whatever it holds. */
export class InvalidCiphertext extends RequestError {
  readonly code = "invalid_ciphertext";
  constructor(field = "ciphertext") {
    super(`Field '${field}' is not a caas ciphertext (caas:v<version>:<base64>).`);
  }
}

/** Not a caas signature or MAC ("caas:v<version>:<base64>"): its shape is wrong, whatever it holds. */
export class InvalidSignature extends RequestError {
  readonly code = "invalid_signature";
  constructor(field = "signature") {
    super(`Field '${field}' is not a caas signature (caas:v<version>:<base64>).`);
  }
}

/** The key's type does not do this operation (encrypt on a signing key, sign on an encryption key, …). */
export class UnsupportedOperation extends RequestError {
  readonly code = "unsupported_operation";
  constructor(keyType: string, what: string) {
    super(`A key of type ${keyType} does not ${what}.`);
  }
}

/** A ciphertext, signature, MAC or token names a key version below the key's minimum decryption version, or one trimmed away. */
export class KeyVersionRetired extends RequestError {
  /** The version asked for, for the request's audit line (a number is no secret). */
  constructor(readonly version?: number) {
    super();
  }
  readonly code = "key_version_retired";
  override readonly message =
    "This was made under a key version that is retired here: it no longer decrypts or verifies (a ciphertext needed a rewrap before the version was retired).";
}

/**
 * A ciphertext, wrapped key, signature, MAC or token's kid names a version newer than any this
 * instance holds. Another instance, or this one after its next reload, may hold it; nothing says
 * it was tampered with.
 */
export class KeyVersionUnknown extends RequestError {
  /** The version asked for, for the request's audit line: which one this instance lacks. */
  constructor(readonly version?: number) {
    super();
  }
  readonly code = "key_version_unknown";
  override readonly message =
    "This names a key version this instance has not loaded yet; retry after the time in Retry-After, or on another instance.";
  readonly retryAfterSeconds = 5;
}

/** /verify was told a secret version this instance does not hold: it cannot say whether the pseudonym matches. */
export class SecretVersionUnknown extends RequestError {
  readonly code = "secret_version_unknown";
  override readonly message =
    "The pseudonym names a secret version this instance has not loaded yet; retry after the time in Retry-After, or on another instance.";
  readonly retryAfterSeconds = 5;
}

/** /verify was told a secret version that is retired here: it verifies nothing any more. */
export class SecretVersionRetired extends RequestError {
  readonly code = "secret_version_retired";
  override readonly message = "The pseudonym names a secret version that is retired and verifies nothing any more.";
}

export class RateLimited extends RequestError {
  readonly code = "rate_limited";
  override readonly message = "Too many requests; retry after the time in Retry-After.";
  constructor(readonly retryAfterSeconds: number) {
    super();
  }
}

export class NotReady extends RequestError {
  readonly code = "not_ready";
  override readonly message = "The service is not ready.";
}

/** The process holds as many request bodies as CAAS_MAX_BODY_IN_FLIGHT allows; this one was not read. */
export class BodyBudgetExhausted extends RequestError {
  readonly code = "busy";
  override readonly message = "The server is holding as many request bodies as it may; retry after the time in Retry-After.";
  readonly retryAfterSeconds = 1;
}

/**
 * The audit trail (CAAS_AUDIT_LOG) could not take this request's line: the request is not
 * answered with its result, since an answer nobody can account for must not leave (fail closed).
 */
export class AuditUnavailable extends RequestError {
  readonly code = "audit_unavailable";
  override readonly message = "The audit log cannot be written, so this request is not answered with its result; retry later.";
}

/** The wire shape of every failure, and of a failed batch item. */
export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

// ---------------------------------------------------------------------------------------------
// Failures of the process itself: configuration, command lines, output. The CLI maps each code
// to an exit status (src/cli/exit-codes.ts).

/** A setting, or a file a setting names, is wrong: the message names the setting and the fix. */
export class ConfigError extends CaasError {
  readonly code: string = "config_error";
}

/** A command line that cannot be run as given. */
export class UsageError extends CaasError {
  readonly code = "usage";
}

/** Standard output went away before an answer was written (a closed pipe). */
export class OutputFailed extends CaasError {
  readonly code = "output_failed";
  constructor(readonly errno: string) {
    super(`standard output closed before the answer was written (${errno})`);
  }
}

/** A command's argument the store cannot take (a key name, a scope, a version number): usage, exit 2. */
export class InvalidArgument extends CaasError {
  readonly code: "invalid_key_argument" | "invalid_keyring_argument";
  /** `of` is the store the argument is for: the API keys file or the keyring. */
  constructor(of: "api_keys" | "keyring", message: string) {
    super(message);
    this.code = of === "api_keys" ? "invalid_key_argument" : "invalid_keyring_argument";
  }
}
