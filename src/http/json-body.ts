/**
 * Reads a request body as strict JSON: the right media type, a bounded size (counted as bytes
 * arrive, so a chunked body cannot grow past the limit in memory), room in the process's body
 * budget (reserved before a byte is read, given back whatever happens), well-formed UTF-8, one
 * JSON value. Schema checks happen after, in Elysia's compiled validator.
 */
import { decodeUtf8, EncodingError } from "../crypto/encoding.ts";
import type { BodyBudget } from "./body-budget.ts";
import { BodyBudgetExhausted, BodyTooLarge, EmptyBody, InvalidJson, InvalidUtf8, UnsupportedMediaType } from "../errors.ts";
import { jsonDepthExceeds } from "./json-depth.ts";

const jsonMediaType = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

export function isJsonMediaType(contentType: string | null): boolean {
  // The exact common spelling skips the pattern.
  return contentType === "application/json" || (contentType !== null && jsonMediaType.test(contentType.trim()));
}

/** What `curl -d` and Python's `requests.post(url, data=...)` declare (the latter: nothing). */
const UNDECLARED_JSON_MEDIA_TYPES: ReadonlySet<string> = new Set(["application/x-www-form-urlencoded", "text/plain"]);

/** No media type, or one that clients of the Django original send JSON under; its parameters are not looked at. */
export function isUndeclaredJsonMediaType(contentType: string | null): boolean {
  if (contentType === null) return true;
  const essence = (contentType.split(";", 1)[0] ?? "").trim().toLowerCase();
  return essence === "" || UNDECLARED_JSON_MEDIA_TYPES.has(essence);
}

export interface JsonBodyOptions {
  /** The process's budget for bodies being read; none: only the per-body limit applies (tests, benches). */
  readonly budget?: BodyBudget | undefined;
  /**
   * Also read a body declared form-encoded or plain text, or not declared at all, as JSON. The
   * Django original json.loads()-ed any body, so its clients send JSON under those; it is still
   * refused (400) if it is not JSON.
   */
  readonly acceptUndeclaredJson?: boolean;
}

/** A body without a declared length (chunked), counted and reserved as it arrives so it cannot grow past either limit in memory. */
async function readStreamed(request: Request, limitBytes: number, budget: BodyBudget | undefined): Promise<unknown> {
  if (request.body === null) throw new EmptyBody();
  const chunks: Uint8Array[] = [];
  let received = 0;
  let reserved = 0;
  const reader = request.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
      if (received > limitBytes) {
        await reader.cancel();
        throw new BodyTooLarge(limitBytes);
      }
      if (budget !== undefined) {
        if (!budget.reserve(value.byteLength)) {
          await reader.cancel();
          throw new BodyBudgetExhausted();
        }
        reserved += value.byteLength;
      }
      chunks.push(value);
    }
    const body = new Uint8Array(received);
    let offset = 0;
    for (const chunk of chunks) {
      body.set(chunk, offset);
      offset += chunk.byteLength;
    }
    // Parsed under the reservation: the text and the parsed value cost about as much again.
    return parseJsonBytes(body);
  } finally {
    budget?.release(reserved);
  }
}

/** One well-formed UTF-8 JSON value from the body's bytes, or the error that says what is wrong with them. */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw new EmptyBody();
  let text: string;
  try {
    text = decodeUtf8(bytes);
  } catch (error) {
    if (error instanceof EncodingError) throw new InvalidUtf8();
    throw error;
  }
  // Nesting is bounded before parsing: deep values cost the schema validator dearly (json-depth.ts).
  if (jsonDepthExceeds(text)) throw new InvalidJson();
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidJson();
  }
}

/** A body of a declared length, reserved whole before it is read. */
async function readDeclared(request: Request, length: number, budget: BodyBudget | undefined): Promise<unknown> {
  // One await, on request.bytes(): cheaper than an async helper around arrayBuffer() and a copy (bench/micro.ts).
  if (budget === undefined) return parseJsonBytes(await request.bytes());
  if (!budget.reserve(length)) throw new BodyBudgetExhausted();
  try {
    // A client that closes the connection or stalls past the idle timeout rejects this, so the finally always runs.
    return parseJsonBytes(await request.bytes());
  } finally {
    budget.release(length);
  }
}

export async function readJsonBody(request: Request, limitBytes: number, options: JsonBodyOptions = {}): Promise<unknown> {
  const headers = request.headers;
  const contentType = headers.get("content-type");
  if (!isJsonMediaType(contentType) && !(options.acceptUndeclaredJson === true && isUndeclaredJsonMediaType(contentType))) {
    throw new UnsupportedMediaType();
  }
  const declared = headers.get("content-length");
  const length = declared === null ? Number.NaN : Number(declared);
  // Bun refuses a malformed Content-Length itself; anything else unusable is read as if undeclared.
  if (!Number.isSafeInteger(length) || length < 0) return readStreamed(request, limitBytes, options.budget);
  if (length > limitBytes) throw new BodyTooLarge(limitBytes);
  // A declared length is enforced by the HTTP layer, so the whole body can be taken at once.
  return readDeclared(request, length, options.budget);
}

/** An Elysia parse hook bound to a body limit. */
export type JsonBodyParser = (context: { request: Request }) => Promise<unknown>;

export function jsonBodyParser(limitBytes: number, options: JsonBodyOptions = {}): JsonBodyParser {
  return ({ request }) => readJsonBody(request, limitBytes, options);
}
