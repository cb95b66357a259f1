/**
 * Reads a request body as strict JSON: the right media type, a bounded size (counted as bytes
 * arrive, so a chunked body cannot grow past the limit in memory), well-formed UTF-8, one JSON
 * value. Schema checks happen after, in Elysia's compiled validator.
 */
import { decodeUtf8, EncodingError } from "../crypto/encoding.ts";
import { BodyTooLarge, EmptyBody, InvalidJson, InvalidUtf8, UnsupportedMediaType } from "./errors.ts";

const jsonMediaType = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

export function isJsonMediaType(contentType: string | null): boolean {
  return contentType !== null && jsonMediaType.test(contentType.trim());
}

async function readBounded(request: Request, limitBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    if (length > limitBytes) throw new BodyTooLarge(limitBytes);
    // A declared length is enforced by the HTTP layer, so the whole body can be taken at once.
    return new Uint8Array(await request.arrayBuffer());
  }
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

export async function readJsonBody(request: Request, limitBytes: number): Promise<unknown> {
  if (!isJsonMediaType(request.headers.get("content-type"))) throw new UnsupportedMediaType();
  const bytes = await readBounded(request, limitBytes);
  if (bytes.byteLength === 0) throw new EmptyBody();
  let text: string;
  try {
    text = decodeUtf8(bytes);
  } catch (error) {
    if (error instanceof EncodingError) throw new InvalidUtf8();
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch {
    // Deep nesting surfaces here as a RangeError from the parser; it is still just bad JSON to the client.
    throw new InvalidJson();
  }
}

/** An Elysia parse hook bound to a body limit. */
export type JsonBodyParser = (context: { request: Request }) => Promise<unknown>;

export function jsonBodyParser(limitBytes: number): JsonBodyParser {
  return ({ request }) => readJsonBody(request, limitBytes);
}
