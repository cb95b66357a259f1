/**
 * Reads a request body as strict JSON: the right media type, a bounded size (counted as bytes
 * arrive, so a chunked body cannot grow past the limit in memory), well-formed UTF-8, one JSON
 * value. Schema checks happen after, in Elysia's compiled validator.
 */
import { decodeUtf8, EncodingError } from "../crypto/encoding.ts";
import { BodyTooLarge, EmptyBody, InvalidJson, InvalidUtf8, UnsupportedMediaType } from "./errors.ts";
import { jsonDepthExceeds } from "./json-depth.ts";

const jsonMediaType = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

export function isJsonMediaType(contentType: string | null): boolean {
  // The exact common spelling skips the pattern.
  return contentType === "application/json" || (contentType !== null && jsonMediaType.test(contentType.trim()));
}

/** A body without a declared length (chunked), counted as it arrives so it cannot grow past the limit in memory. */
async function readStreamed(request: Request, limitBytes: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > limitBytes) {
      await reader.cancel();
      throw new BodyTooLarge(limitBytes);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
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

export async function readJsonBody(request: Request, limitBytes: number): Promise<unknown> {
  const headers = request.headers;
  if (!isJsonMediaType(headers.get("content-type"))) throw new UnsupportedMediaType();
  const declared = headers.get("content-length");
  if (declared === null) return parseJsonBytes(await readStreamed(request, limitBytes));
  if (Number(declared) > limitBytes) throw new BodyTooLarge(limitBytes);
  // A declared length is enforced by the HTTP layer, so the whole body can be taken at once.
  // One await, on request.bytes(): cheaper than an async helper around arrayBuffer() and a copy (bench/micro.ts).
  return parseJsonBytes(await request.bytes());
}

/** An Elysia parse hook bound to a body limit. */
export type JsonBodyParser = (context: { request: Request }) => Promise<unknown>;

export function jsonBodyParser(limitBytes: number): JsonBodyParser {
  return ({ request }) => readJsonBody(request, limitBytes);
}
