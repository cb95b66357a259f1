/**
 * Reads a request body as strict JSON: a media type the route reads, in UTF-8, a bounded size
 * (counted as bytes arrive, so a chunked body cannot grow past the limit in memory), room in the
 * process's body budget (reserved before a byte is read, given back whatever happens),
 * well-formed UTF-8 after at most one byte order mark, one JSON value. Schema checks happen
 * after, in Elysia's compiled validator.
 */
import { decodeUtf8, EncodingError } from "../crypto/encoding.ts";
import type { BodyBudget } from "./body-budget.ts";
import {
  BodyBudgetExhausted,
  BodyTooLarge,
  EmptyBody,
  InvalidJson,
  InvalidUtf8,
  type MediaTypeProblem,
  UnsupportedMediaType,
} from "../errors.ts";
import { jsonDepthExceeds } from "./json-depth.ts";

/**
 * Which Content-Types a route reads as JSON. "json": application/json and the application/*+json
 * types (what the Flask original's request.get_json() took). "any": whatever is declared, or
 * nothing, as the Django original json.loads()-ed every body; it is still refused (400) if it is
 * not JSON. Either way a charset other than UTF-8 is refused, since the body is read as UTF-8.
 */
export type AcceptedMediaTypes = "json" | "any";

/** UTF-8 under the names clients send it as, quoted or not, any case (utf-8, UTF8, utf_8). */
const UTF8_CHARSET = /^"?utf[-_]?8"?$/i;

/** Why a Content-Type is refused on a route that accepts `accepted`, or undefined when its body is read. */
export function mediaTypeProblem(contentType: string | null, accepted: AcceptedMediaTypes): MediaTypeProblem | undefined {
  // The exact common spelling skips the parsing.
  if (contentType === "application/json") return undefined;
  const [essence = "", ...parameters] = (contentType ?? "").split(";");
  if (accepted === "json") {
    const type = essence.trim().toLowerCase();
    if (type !== "application/json" && !(type.startsWith("application/") && type.endsWith("+json"))) return "media_type";
  }
  for (const parameter of parameters) {
    const equals = parameter.indexOf("=");
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== "charset") continue;
    if (!UTF8_CHARSET.test(parameter.slice(equals + 1).trim())) return "charset";
  }
  return undefined;
}

/** Whether a strict JSON route reads a body sent under this Content-Type. */
export function isJsonMediaType(contentType: string | null): boolean {
  return mediaTypeProblem(contentType, "json") === undefined;
}

export interface JsonBodyOptions {
  /** The process's budget for bodies being read; none: only the per-body limit applies (tests, benches). */
  readonly budget?: BodyBudget | undefined;
  /** Which Content-Types are read as JSON; "json" when absent. */
  readonly mediaTypes?: AcceptedMediaTypes;
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

/**
 * The bytes after one leading UTF-8 byte order mark. RFC 8259 §8.1 lets a parser skip it, and
 * both originals did (Python's json.loads reads BOM-prefixed UTF-8), so their clients send it.
 */
function withoutByteOrderMark(bytes: Uint8Array): Uint8Array {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
}

/** One well-formed UTF-8 JSON value from the body's bytes, or the error that says what is wrong with them. */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw new EmptyBody();
  let text: string;
  try {
    text = decodeUtf8(withoutByteOrderMark(bytes));
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

export async function readJsonBody(request: Request, limitBytes: number, options: JsonBodyOptions = {}): Promise<unknown> {
  const headers = request.headers;
  const problem = mediaTypeProblem(headers.get("content-type"), options.mediaTypes ?? "json");
  if (problem !== undefined) throw new UnsupportedMediaType(problem);
  const declared = headers.get("content-length");
  const length = declared === null ? Number.NaN : Number(declared);
  const budget = options.budget;
  // Bun refuses a malformed Content-Length itself; anything else unusable is read as if undeclared.
  if (!Number.isSafeInteger(length) || length < 0) return readStreamed(request, limitBytes, budget);
  if (length > limitBytes) throw new BodyTooLarge(limitBytes);
  // A declared length is enforced by the HTTP layer, so the whole body is taken at once, reserved
  // whole before it is read: one async frame and one await, on request.bytes() (bench/micro.ts).
  if (budget === undefined) return parseJsonBytes(await request.bytes());
  if (!budget.reserve(length)) throw new BodyBudgetExhausted();
  try {
    // A client that closes the connection or stalls past the idle timeout rejects this, so the finally always runs.
    return parseJsonBytes(await request.bytes());
  } finally {
    budget.release(length);
  }
}

/** An Elysia parse hook bound to a body limit. */
export type JsonBodyParser = (context: { request: Request }) => Promise<unknown>;

export function jsonBodyParser(limitBytes: number, options: JsonBodyOptions = {}): JsonBodyParser {
  return ({ request }) => readJsonBody(request, limitBytes, options);
}
