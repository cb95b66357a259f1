/**
 * Every kind of bad input the oracle must answer with a JSON 4xx, as data: the unit suite runs
 * the table through app.handle(), the end-to-end suite through dist/caas over TLS. Run the app
 * with a body limit of BAD_INPUT_MAX_BODY bytes (CAAS_MAX_BODY for the binary).
 *
 * Each body carries BAD_INPUT_CANARY somewhere (a value, a field name, a path, the plaintext of a
 * sealed box) so a check can prove no answer repeats the input. The seal route ignores a field it
 * does not know, as the Flask original did, but not beside a caas option (aad, wrap_with) nor
 * when it looks like one: a client's typo, say "add" for "aad" or "wrapWith" for "wrap_with", must
 * not silently drop authentication data or hand back a key it asked to keep wrapped
 * (src/http/unknown-fields.ts). The decrypt route, which the original did not have, refuses any.
 */

export const BAD_INPUT_CANARY = "canary-5b1e";
export const BAD_INPUT_MAX_BODY = 1024;

export interface BadInputCase {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Sent as bytes exactly; an empty body is sent as no body at all. */
  readonly body: string | Uint8Array;
  readonly expectStatus: number;
  readonly expectCode: string;
  /** Headers the answer must carry with exactly these values (names in lower case). */
  readonly expectHeaders?: Readonly<Record<string, string>>;
}

const JSON_TYPE = { "content-type": "application/json" } as const;
const SEAL = "/oracleinvocation";
const OPEN = "/oracleinvocation/decrypt";
const canary = BAD_INPUT_CANARY;

const bytes = (...parts: readonly (string | readonly number[])[]): Uint8Array => {
  const encoder = new TextEncoder();
  const chunks = parts.map((part) => (typeof part === "string" ? encoder.encode(part) : Uint8Array.from(part)));
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
};

/**
 * A box sealed under a fixed key and nonce (by node:crypto) whose plaintext is `${canary}-plaintext`,
 * and one whose plaintext is 0xFF 0xFE followed by the same text (not UTF-8). The decrypt cases
 * below change one part of it at a time.
 */
export const KNOWN_BOX = {
  key: "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
  nonce: "CQkJCQkJCQkJCQkJ",
  data: "ROTq9cyJ7FTCU64VlobCtrrEBotA",
  mac: "1iujHaaPj7hTrcPNi6nB9w==",
  plaintext: `${canary}-plaintext`,
  notUtf8Data: "2Hvn9dCRsxiNV6kJg8fTs7XZDYdRloM=",
  notUtf8Mac: "CBmDz3tL2ydDVzQCy8GaBQ==",
} as const;

const box = (changes: Readonly<Record<string, unknown>>) =>
  JSON.stringify({ data: KNOWN_BOX.data, key: KNOWN_BOX.key, mac: KNOWN_BOX.mac, nonce: KNOWN_BOX.nonce, ...changes });

const sealCase = (name: string, body: string | Uint8Array, expectStatus: number, expectCode: string): BadInputCase => ({
  name,
  method: "POST",
  path: SEAL,
  headers: JSON_TYPE,
  body,
  expectStatus,
  expectCode,
});

const openCase = (name: string, body: string, expectCode: string): BadInputCase => ({
  name,
  method: "POST",
  path: OPEN,
  headers: JSON_TYPE,
  body,
  expectStatus: 400,
  expectCode,
});

export const badInputCases: readonly BadInputCase[] = [
  // The body is not one JSON value.
  sealCase("broken JSON", `{"data": "${canary}`, 400, "invalid_json"),
  sealCase("trailing garbage after the object", `{"data": "x"} ${canary}`, 400, "invalid_json"),
  sealCase("single-quoted JSON", `{'data': '${canary}'}`, 400, "invalid_json"),
  sealCase("empty body", "", 400, "empty_body"),
  sealCase("whitespace only", "  \n ", 400, "invalid_json"),
  // A JSON value that is not the object this endpoint takes.
  sealCase("JSON array", `["${canary}"]`, 400, "invalid_body"),
  sealCase("JSON string", `"${canary}"`, 400, "invalid_body"),
  sealCase("JSON number", "42", 400, "invalid_body"),
  sealCase("JSON true", "true", 400, "invalid_body"),
  sealCase("JSON null", "null", 400, "invalid_body"),
  sealCase("data missing", `{"aad": "${canary}"}`, 400, "invalid_body"),
  sealCase("data a number", `{"data": 42, "aad": "${canary}"}`, 400, "invalid_body"),
  sealCase("data null", `{"data": null, "aad": "${canary}"}`, 400, "invalid_body"),
  sealCase("data an object", `{"data": {"${canary}": 1}}`, 400, "invalid_body"),
  sealCase("data an array", `{"data": ["${canary}"]}`, 400, "invalid_body"),
  sealCase("aad a number", `{"data": "${canary}", "aad": 1}`, 400, "invalid_body"),
  sealCase("unknown field beside aad (named by the client)", `{"data": "x", "aad": "y", "${canary}": "y"}`, 400, "invalid_body"),
  sealCase("misspelt aad", `{"data": "x", "add": "${canary}"}`, 400, "invalid_body"),
  sealCase("misspelt wrap_with", `{"data": "x", "wrapWith": "${canary}"}`, 400, "invalid_body"),
  sealCase("__proto__ field beside aad", `{"data": "x", "aad": "y", "__proto__": {"${canary}": 1}}`, 400, "invalid_body"),
  // Bytes that are not UTF-8, or text with no UTF-8 form.
  sealCase("invalid UTF-8 byte", bytes(`{"data": "${canary}`, [0xff], `"}`), 400, "invalid_utf8"),
  sealCase("truncated UTF-8 sequence", bytes(`{"data": "${canary}`, [0xe2, 0x82], `"}`), 400, "invalid_utf8"),
  sealCase("overlong UTF-8 for '/'", bytes(`{"data": "${canary}`, [0xc0, 0xaf], `"}`), 400, "invalid_utf8"),
  sealCase("UTF-8-encoded surrogate (CESU)", bytes(`{"data": "${canary}`, [0xed, 0xa0, 0x80], `"}`), 400, "invalid_utf8"),
  sealCase("UTF-16 body", bytes([0xff, 0xfe], ...[...`{"data":"${canary}"}`].map((char) => [char.charCodeAt(0), 0])), 400, "invalid_utf8"),
  sealCase("lone surrogate escape in data", `{"data": "${canary}\\ud800"}`, 400, "invalid_text"),
  sealCase("lone low surrogate escape in aad", `{"data": "x", "aad": "\\udc00${canary}"}`, 400, "invalid_text"),
  // RFC 8259 §8.1 lets a parser skip one byte order mark, as both originals did; a second is not JSON.
  sealCase("two UTF-8 byte order marks", bytes([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf], `{"data": "${canary}"}`), 400, "invalid_json"),
  // Size and media type.
  sealCase("body over the limit", `{"data": "${canary}${"x".repeat(BAD_INPUT_MAX_BODY)}"}`, 413, "body_too_large"),
  { ...sealCase("text/plain", `{"data": "${canary}"}`, 415, "unsupported_media_type"), headers: { "content-type": "text/plain" } },
  { ...sealCase("no content type", `{"data": "${canary}"}`, 415, "unsupported_media_type"), headers: {} },
  {
    ...sealCase("form-encoded", `data=${canary}`, 415, "unsupported_media_type"),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  },
  {
    ...sealCase("JSON in another charset", `{"data": "${canary}"}`, 415, "unsupported_media_type"),
    headers: { "content-type": "application/json; charset=iso-8859-1" },
  },
  { ...sealCase("trailing-slash path, broken JSON", `{"data": ${canary}`, 400, "invalid_json"), path: `${SEAL}/` },
  // Methods and paths.
  {
    name: "GET on the seal endpoint",
    method: "GET",
    path: `${SEAL}?${canary}=1`,
    headers: {},
    body: "",
    expectStatus: 405,
    expectCode: "method_not_allowed",
    expectHeaders: { allow: "POST" },
  },
  {
    name: "PUT on the decrypt endpoint",
    method: "PUT",
    path: OPEN,
    headers: JSON_TYPE,
    body: box({}),
    expectStatus: 405,
    expectCode: "method_not_allowed",
    expectHeaders: { allow: "POST" },
  },
  {
    name: "DELETE on the trailing-slash seal path",
    method: "DELETE",
    path: `${SEAL}/`,
    headers: {},
    body: "",
    expectStatus: 405,
    expectCode: "method_not_allowed",
    expectHeaders: { allow: "POST" },
  },
  {
    name: "unknown path",
    method: "POST",
    path: `/${canary}`,
    headers: JSON_TYPE,
    body: `{"data": "x"}`,
    expectStatus: 404,
    expectCode: "not_found",
  },
  {
    name: "unknown path under the oracle",
    method: "GET",
    path: `${SEAL}/${canary}`,
    headers: {},
    body: "",
    expectStatus: 404,
    expectCode: "not_found",
  },
  // Decrypt: fields that do not decode, and boxes that do not authenticate.
  openCase("decrypt: key not base64", box({ key: `${canary}!` }), "invalid_encoding"),
  openCase(
    "decrypt: data with whitespace in its base64",
    box({ data: `${KNOWN_BOX.data.slice(0, 8)} ${KNOWN_BOX.data.slice(8)}` }),
    "invalid_encoding",
  ),
  openCase(
    "decrypt: mac with a newline in its base64",
    box({ mac: `${KNOWN_BOX.mac.slice(0, 12)}\n${KNOWN_BOX.mac.slice(12)}` }),
    "invalid_encoding",
  ),
  openCase("decrypt: nonce in URL-safe base64", box({ nonce: "CQkJCQkJCQkJCQk-" }), "invalid_encoding"),
  openCase("decrypt: mac without its padding", box({ mac: KNOWN_BOX.mac.replace(/=+$/, "") }), "invalid_encoding"),
  openCase("decrypt: short key (15 bytes)", box({ key: "BwcHBwcHBwcHBwcHBwcH" }), "authentication_failed"),
  openCase("decrypt: short mac (12 bytes)", box({ mac: KNOWN_BOX.mac.slice(0, 16) }), "authentication_failed"),
  openCase("decrypt: wrong tag", box({ mac: `A${KNOWN_BOX.mac.slice(1)}` }), "authentication_failed"),
  openCase("decrypt: wrong key", box({ key: `A${KNOWN_BOX.key.slice(1)}` }), "authentication_failed"),
  openCase("decrypt: wrong nonce", box({ nonce: `A${KNOWN_BOX.nonce.slice(1)}` }), "authentication_failed"),
  openCase("decrypt: aad added that was not sealed", box({ aad: canary }), "authentication_failed"),
  openCase(
    "decrypt: authentic box whose plaintext is not UTF-8",
    box({ data: KNOWN_BOX.notUtf8Data, mac: KNOWN_BOX.notUtf8Mac }),
    "plaintext_not_utf8",
  ),
  openCase("decrypt: key missing", JSON.stringify({ data: KNOWN_BOX.data, mac: KNOWN_BOX.mac, nonce: canary }), "invalid_body"),
  openCase("decrypt: unknown extra field", box({ [canary]: "x" }), "invalid_body"),
  openCase("decrypt: lone surrogate in aad", box({ aad: `${canary}\ud800` }), "invalid_text"),
];

/** The request for a case, against a base URL such as "http://localhost" or "https://127.0.0.1:8443". */
export function requestFor(testCase: BadInputCase, baseUrl: string): Request {
  const body = typeof testCase.body === "string" ? new TextEncoder().encode(testCase.body) : testCase.body;
  // Bytes, never a string: a string body would make Request add "text/plain" when no type is given.
  return new Request(new URL(testCase.path, baseUrl).href, {
    method: testCase.method,
    headers: testCase.headers,
    body: body.length === 0 ? null : new Uint8Array(body),
  });
}

/**
 * What is wrong with an answer to a case, as readable lines; none when it keeps every promise:
 * the expected status and code, a JSON `{"error": {"code", "message"}}` and nothing else,
 * Cache-Control: no-store, the expected headers, and no trace of the canary.
 */
export async function answerProblems(testCase: BadInputCase, answer: Response): Promise<string[]> {
  const problems: string[] = [];
  const text = await answer.text();
  if (answer.status !== testCase.expectStatus) problems.push(`status ${answer.status}, expected ${testCase.expectStatus}`);
  const contentType = answer.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(contentType)) problems.push(`content-type '${contentType}'`);
  if (answer.headers.get("cache-control") !== "no-store") problems.push(`cache-control '${answer.headers.get("cache-control")}'`);
  for (const [name, value] of Object.entries(testCase.expectHeaders ?? {})) {
    if (answer.headers.get(name) !== value) problems.push(`${name} '${answer.headers.get(name)}', expected '${value}'`);
  }
  if (text.toLowerCase().includes(BAD_INPUT_CANARY)) problems.push("the answer repeats the input (canary found)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    problems.push("the body is not JSON");
    return problems;
  }
  if (!isErrorBody(parsed)) {
    problems.push(`the body is not {"error": {"code", "message"}} alone`);
    return problems;
  }
  if (parsed.error.code !== testCase.expectCode) problems.push(`code '${parsed.error.code}', expected '${testCase.expectCode}'`);
  if (parsed.error.message.length === 0) problems.push("empty message");
  return problems;
}

function isErrorBody(value: unknown): value is { error: { code: string; message: string } } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  if (Object.keys(value).join() !== "error") return false;
  const error: unknown = (value as { error: unknown }).error;
  if (typeof error !== "object" || error === null || Array.isArray(error)) return false;
  if (Object.keys(error).sort().join() !== "code,message") return false;
  const { code, message } = error as { code: unknown; message: unknown };
  return typeof code === "string" && typeof message === "string";
}
