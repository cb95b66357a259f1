/**
 * fast-check over HTTP against the running dist/caas: random methods, paths, content types,
 * headers and bodies (random bytes, invalid UTF-8, JSON of every wrong shape, huge numbers, deep
 * nesting, lone surrogates, near-valid requests with one field wrong) at every route. Every
 * answer must be a 2xx, or a 4xx carrying `{"error":{"code","message"}}` in JSON (405 with
 * Allow); never a 5xx, never an HTML error page; the process stays up and its memory bounded.
 *
 * CAAS_FUZZ_RUNS sets the number of requests (default 5,000, about 3 s here); the nightly size
 * is 100,000. CAAS_FUZZ_SEED replays a failure. The status histogram and RSS are printed.
 *
 * A second property varies what the first never does, Host, X-Request-Id and traceparent (empty,
 * spaces, '@', non-ASCII, control characters, up to past Bun's 16 KiB head), over raw TLS:
 * every request Bun hands to caas gets JSON with caas's headers and the request id caas keeps,
 * and what Bun answers itself is told apart (a plain 400 or 431, no request id).
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import fc from "fast-check";
import { KNOWN_BOX } from "../cases/bad-input.ts";
import { addApiKey, cliOk, startCaas, tempDir, type RunningCaas } from "./harness.ts";
import { README_USER } from "../../support/constants.ts";

const RUNS = Number(process.env.CAAS_FUZZ_RUNS ?? 5_000);
const SEED = process.env.CAAS_FUZZ_SEED === undefined ? undefined : Number(process.env.CAAS_FUZZ_SEED);
/** How many requests are in flight at once: enough to keep both cores busy. */
const CONCURRENCY = 8;

let caas: RunningCaas;
let standardKey: string;
const COMPAT_KEY = "fuzz_compat_key_0123456789";

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024;
}

beforeAll(async () => {
  const files = tempDir("caas-fuzz-");
  const keysFile = join(files, "keys.json");
  // The keyring routes reached past their scope check: a key that may use keyring key "orders".
  const rootKey = join(files, "root-key");
  const keyringFile = join(files, "keyring.json");
  cliOk("root-key", "init", rootKey);
  cliOk("keyring", "create", "orders", "--file", keyringFile, "--root-key", rootKey);
  standardKey = addApiKey("fuzz", keysFile, "--scope", "pseudonym", "--scope", "keyring:orders");
  cliOk("keys", "import", "fuzz-compat", "--key", COMPAT_KEY, "--profile", "django-compat", "--file", keysFile);
  caas = await startCaas({
    env: { CAAS_API_KEYS_FILE: keysFile, CAAS_MAX_BODY: "8192", CAAS_KEYRING_FILE: keyringFile, CAAS_ROOT_KEY_FILE: rootKey },
  });
});
afterAll(async () => {
  await caas?.stop();
});

// ---------------------------------------------------------------------------------------------
// Generators

const KEYRING_ROUTES = ["encrypt", "decrypt", "rewrap", "datakey", "encrypt/batch", "decrypt/batch", "rewrap/batch"].flatMap(
  (operation) => [`/keyring/orders/${operation}`, `/keyring/absent/${operation}`],
);
const ROUTES = [
  "/oracleinvocation",
  "/oracleinvocation/decrypt",
  "/encrypt",
  "/encode",
  "/verify",
  "/healthz",
  "/readyz",
  "/metrics",
  "/swagger",
  "/swagger/json",
  ...KEYRING_ROUTES,
];

const path = fc.oneof(
  { arbitrary: fc.constantFrom(...ROUTES), weight: 6 },
  { arbitrary: fc.constantFrom(...ROUTES).map((route) => `${route}/`), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(...ROUTES), fc.string({ maxLength: 20 }))
      .map(([route, query]) => `${route}?${encodeURIComponent(query)}`),
    weight: 1,
  },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(...ROUTES), fc.constantFrom("/x", "//", "/..", "/%2e%2e", "/%00", "/%ff%fe", ";a=b", "/../healthz"))
      .map(([route, tail]) => route + tail),
    weight: 1,
  },
  { arbitrary: fc.array(fc.stringMatching(/^[A-Za-z0-9._~%-]{0,12}$/), { maxLength: 4 }).map((parts) => `/${parts.join("/")}`), weight: 1 },
  {
    arbitrary: fc.uint8Array({ maxLength: 24 }).map((bytes) => `/${[...bytes].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")}`),
    weight: 1,
  },
);

/**
 * The methods Bun's HTTP parser (llhttp's list) lets through to caas. It drops the connection on
 * any other token, or answers a bare 400, before caas sees the request: those are checked to be
 * refused that way (closed cleanly), not to be JSON.
 */
const BUN_METHODS = new Set(
  "DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split(
    " ",
  ),
);

// Methods fetch does not know are sent over a raw socket (see send).
const method = fc.oneof(
  { arbitrary: fc.constant("POST"), weight: 8 },
  { arbitrary: fc.constantFrom(...BUN_METHODS), weight: 2 },
  { arbitrary: fc.stringMatching(/^[A-Za-z!#$%&'*+.^_`|~-]{1,12}$/), weight: 1 },
);

const contentType = fc.oneof(
  { arbitrary: fc.constant("application/json"), weight: 8 },
  {
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "application/json; charset=latin1",
      "APPLICATION/JSON",
      "text/plain",
      "text/html",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/octet-stream",
      "application/problem+json",
      "",
    ),
    weight: 2,
  },
  { arbitrary: fc.stringMatching(/^[\x20-\x7e]{0,40}$/), weight: 1 },
);

const hugeNumber = fc.constantFrom(
  "1e400",
  "-1e400",
  "123456789012345678901234567890123456789",
  "-0",
  "0.0000000000000000000000000001e-400",
  "1.7976931348623157e309",
  "9007199254740993",
);
const loneSurrogate = fc.constantFrom("\ud800", "\udfff", "a\ud83d", "\ude00b", "\udc00\ud800");
/** Strings that are valid UTF-16 but tricky: control characters, NUL, the replacement char, emoji, bidi. */
const trickyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  loneSurrogate,
  fc.constantFrom(
    "",
    "\u0000",
    "\ufffd",
    "\u202e",
    "🔐",
    "\\",
    '"',
    "__proto__",
    "constructor",
    "A".repeat(5000),
    "%s%n",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as plain text on purpose
    "${7*7}",
    "<script>",
  ),
);

/** Any JSON value, lone surrogates in strings included (JSON.stringify escapes them, the parser restores them). */
const anyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    trickyString,
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(trickyString, tie("value"), { maxKeys: 4 }),
  ),
})).value;

const FIELDS = [
  "data",
  "aad",
  "key",
  "mac",
  "nonce",
  "apiKey",
  "userUUID",
  "sensitiveData",
  "encrypted_data",
  "ciphertext",
  "encoding",
  "wrap_with",
  "wrapped_key",
  "plaintext",
  "items",
];
/** A keyring ciphertext in form (its tag cannot be right): it reaches the key lookup and the cipher. */
const FORMED_CIPHERTEXT = `caas:v1:${new Uint8Array(48).toBase64()}`;
const goodValues: Record<string, fc.Arbitrary<unknown>> = {
  data: fc.constantFrom("attack at dawn", KNOWN_BOX.data),
  aad: fc.constant("order-42"),
  key: fc.constant(KNOWN_BOX.key),
  mac: fc.constant(KNOWN_BOX.mac),
  nonce: fc.constant(KNOWN_BOX.nonce),
  apiKey: fc.constantFrom(COMPAT_KEY, "wrong-key", ""),
  userUUID: fc.constantFrom(README_USER, README_USER.toUpperCase(), "not-a-uuid"),
  sensitiveData: fc.constant("example sensitive data"),
  encrypted_data: fc.constantFrom("00".repeat(48), "zz"),
  ciphertext: fc.constantFrom(FORMED_CIPHERTEXT, "caas:v0:AAAA", "caas:v99999999999:AAAA", "vault:v1:AAAA"),
  encoding: fc.constantFrom("utf8", "base64", "hex"),
  wrap_with: fc.constantFrom("orders", "absent", "../orders", ""),
  wrapped_key: fc.constantFrom(FORMED_CIPHERTEXT, "not-one"),
  plaintext: fc.boolean(),
  items: fc.array(fc.constantFrom({ data: "x" }, { ciphertext: FORMED_CIPHERTEXT }, { data: "AAAA", encoding: "base64" }), {
    maxLength: 3,
  }),
};

/** A request object close to a valid one: some fields right, some of any JSON type, some missing or extra. */
const nearValidObject = fc
  .tuple(
    fc.subarray(FIELDS),
    fc.dictionary(fc.constantFrom(...FIELDS), anyJson, { maxKeys: 3 }),
    fc.dictionary(trickyString, anyJson, { maxKeys: 2 }),
    fc.boolean(),
  )
  .chain(([present, wrong, extra, withExtra]) =>
    fc
      .record(Object.fromEntries(present.map((field) => [field, goodValues[field]!])))
      .map((good) => ({ ...good, ...wrong, ...(withExtra ? extra : {}) })),
  );

const encoder = new TextEncoder();
const body: fc.Arbitrary<Uint8Array | string> = fc.oneof(
  { arbitrary: nearValidObject.map((value) => JSON.stringify(value)), weight: 6 },
  { arbitrary: anyJson.map((value) => JSON.stringify(value) ?? "null"), weight: 3 },
  { arbitrary: fc.uint8Array({ maxLength: 512 }), weight: 2 },
  // Valid JSON text, then its bytes broken: a stray continuation byte, an overlong encoding, a
  // UTF-16 surrogate encoded as UTF-8 (CESU/WTF-8), a truncated sequence, a NUL.
  {
    arbitrary: fc
      .tuple(
        nearValidObject.map((value) => JSON.stringify(value)),
        fc.constantFrom([0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf0, 0x9f], [0xff], [0x00], [0xef, 0xbb, 0xbf]),
        fc.nat(),
      )
      .map(([text, bad, at]) => {
        const bytes = encoder.encode(text);
        const cut = at % (bytes.length + 1);
        return Uint8Array.from([...bytes.subarray(0, cut), ...bad, ...bytes.subarray(cut)]);
      }),
    weight: 2,
  },
  { arbitrary: fc.tuple(fc.constantFrom(...FIELDS), hugeNumber).map(([field, number]) => `{"${field}":${number}}`), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom("[", '{"a":', '[{"data":'), fc.integer({ min: 20, max: 3000 }))
      .map(([open, depth]) => open.repeat(depth)),
    weight: 1,
  },
  // Deep but well-formed, in a field or as the whole body: what once cost the validator seconds or its stack.
  {
    arbitrary: fc
      .tuple(fc.constantFrom(...FIELDS), fc.integer({ min: 1, max: 8_000 }), fc.boolean())
      .map(([field, depth, inField]) =>
        inField ? `{"${field}":${"[".repeat(depth)}${"]".repeat(depth)}}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`,
      ),
    weight: 1,
  },
  {
    arbitrary: fc.constantFrom(
      "",
      " ",
      "null",
      "{}",
      "[]",
      "{",
      '{"data":"x"',
      '{"data":"x"}}',
      "\ufeff{}",
      '{"data":"x","data":"y"}',
      '{"__proto__":{"data":"x"}}',
    ),
    weight: 1,
  },
);

const authHeaders = fc.oneof(
  { arbitrary: fc.constant({}), weight: 4 },
  {
    arbitrary: fc
      .constantFrom("valid", "compat", "wrong")
      .map((which) => ({ "x-api-key": which === "valid" ? standardKey : which === "compat" ? COMPAT_KEY : "caas_wrong" })),
    weight: 1,
  },
  { arbitrary: fc.stringMatching(/^[\x21-\x7e]{0,60}$/).map((value) => ({ authorization: `Bearer ${value}` })), weight: 1 },
  { arbitrary: fc.stringMatching(/^[\x20-\x7e]{0,60}$/).map((value) => ({ authorization: value })), weight: 1 },
);

const POST_ROUTES = ["/oracleinvocation", "/oracleinvocation/decrypt", "/encrypt", "/encode", "/verify", ...KEYRING_ROUTES];
/** Mostly POSTs at the routes that read a body, where the parsing and validation are; the rest anything at anything. */
const target = fc.oneof(
  { arbitrary: fc.record({ method: fc.constant("POST"), path: fc.constantFrom(...POST_ROUTES) }), weight: 3 },
  { arbitrary: fc.record({ method, path }), weight: 2 },
);
const request = fc
  .tuple(target, contentType, body, authHeaders)
  .map(([{ method, path }, contentType, body, auth]) => ({ method, path, contentType, body, auth }));
type FuzzRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

// ---------------------------------------------------------------------------------------------
// The promise every answer keeps

const histogram = new Map<number | string, number>();

/** What is wrong with an answer; empty when it keeps the promise. */
async function problems(sent: FuzzRequest, answer: Response | "closed"): Promise<string[]> {
  if (answer === "closed" || (answer.status === 400 && !answer.headers.has("content-type") && (await answer.clone().text()) === "")) {
    histogram.set("refused by Bun's parser", (histogram.get("refused by Bun's parser") ?? 0) + 1);
    return BUN_METHODS.has(sent.method)
      ? [`a method Bun knows was refused before caas (${answer === "closed" ? "closed" : "bare 400"})`]
      : [];
  }
  const found: string[] = [];
  const status = answer.status;
  histogram.set(status, (histogram.get(status) ?? 0) + 1);
  const text = await answer.text();
  const contentType = answer.headers.get("content-type") ?? "";
  if (status >= 500) found.push(`status ${status}`);
  else if (status >= 300 && status < 400 && status !== 308) found.push(`unexpected status ${status}`);
  else if (status >= 400) {
    if (!contentType.startsWith("application/json")) found.push(`4xx with content-type '${contentType}'`);
    if (sent.method !== "HEAD") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        found.push(`4xx body is not JSON: ${text.slice(0, 80)}`);
      }
      const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      if (typeof error?.code !== "string" || typeof error.message !== "string" || Object.keys(parsed as object).length !== 1) {
        found.push(`4xx body is not {"error":{"code","message"}}: ${text.slice(0, 80)}`);
      }
    }
    if (status === 405 && !answer.headers.get("allow")) found.push("405 without Allow");
  }
  if (/<html|<!doctype/i.test(text) && !(status === 200 && sent.path.startsWith("/swagger"))) found.push("HTML answer");
  return found;
}

/** The methods Bun's fetch sends as given; it turns any other into GET, so those go over a raw socket. */
const FETCH_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "PROPFIND",
  "PURGE",
  "QUERY",
  "MKCOL",
  "LOCK",
  "SEARCH",
]);

/**
 * One HTTP/1.1 request over its own TLS connection, exactly as given (a null `host` sends none);
 * the answer read until the server closes.
 */
function sendRaw(sent: FuzzRequest, headers: Record<string, string>, host: string | null = "localhost"): Promise<Response | "closed"> {
  const bodyBytes = typeof sent.body === "string" ? encoder.encode(sent.body) : sent.body;
  const head =
    `${sent.method} ${sent.path} HTTP/1.1\r\n${host === null ? "" : `Host: ${host}\r\n`}Connection: close\r\nContent-Length: ${bodyBytes.length}\r\n` +
    Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("") +
    "\r\n";
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: "127.0.0.1", port: caas.port, rejectUnauthorized: false }, () => {
      socket.write(head);
      socket.write(bodyBytes);
    });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const raw = Buffer.concat(chunks);
      if (raw.length === 0) return resolve("closed");
      const split = raw.indexOf("\r\n\r\n");
      const lines = raw.subarray(0, split).toString("latin1").split("\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? "")?.[1]);
      if (split < 0 || !Number.isInteger(status)) return reject(new Error(`no HTTP answer: ${raw.subarray(0, 80).toString("latin1")}`));
      const answerHeaders = new Headers();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        answerHeaders.append(line.slice(0, colon), line.slice(colon + 1).trim());
      }
      let body = raw.subarray(split + 4);
      if (/chunked/i.test(answerHeaders.get("transfer-encoding") ?? "")) {
        const parts: Buffer[] = [];
        for (let at = 0; ; ) {
          const eol = body.indexOf("\r\n", at);
          const size = Number.parseInt(body.subarray(at, eol).toString("latin1"), 16);
          if (!(size > 0)) break;
          parts.push(body.subarray(eol + 2, eol + 2 + size));
          at = eol + 2 + size + 2;
        }
        body = Buffer.concat(parts);
      }
      answerHeaders.delete("transfer-encoding");
      resolve(new Response(status === 204 || status === 304 ? null : body, { status, headers: answerHeaders }));
    });
  });
}

async function send(sent: FuzzRequest): Promise<Response | "closed"> {
  const headers: Record<string, string> = { ...sent.auth };
  if (sent.contentType !== "") headers["content-type"] = sent.contentType;
  if (!FETCH_METHODS.has(sent.method)) return sendRaw(sent, headers);
  const withBody = sent.method !== "GET" && sent.method !== "HEAD";
  return caas.request(sent.path, { method: sent.method, headers, ...(withBody ? { body: sent.body } : {}) });
}

describe(`fuzzing dist/caas over HTTPS (${RUNS} requests)`, () => {
  it(
    "answers every request with a 2xx or a JSON 4xx, never a 5xx or HTML, and stays up with bounded memory",
    async () => {
      const rssBefore = rssBytes(caas.process.pid);
      const started = performance.now();
      // Batches of CONCURRENCY requests per property run keep both cores busy; a failing batch shrinks like any other.
      const batches = Math.ceil(RUNS / CONCURRENCY);
      let rssPeak = rssBefore;
      let sentCount = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(request, { minLength: CONCURRENCY, maxLength: CONCURRENCY }), async (batch) => {
          const results = await Promise.all(
            batch.map(async (sent) => {
              const answer = await send(sent);
              return {
                sent: { ...sent, body: typeof sent.body === "string" ? sent.body.slice(0, 200) : `${sent.body.length} bytes` },
                problems: await problems(sent, answer),
              };
            }),
          );
          sentCount += batch.length;
          if (sentCount % 2_000 < CONCURRENCY) rssPeak = Math.max(rssPeak, rssBytes(caas.process.pid));
          expect(results.filter((result) => result.problems.length > 0)).toEqual([]);
        }),
        { numRuns: batches, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: false },
      );
      const seconds = (performance.now() - started) / 1000;
      const rssAfter = rssBytes(caas.process.pid);
      rssPeak = Math.max(rssPeak, rssAfter);
      const statuses = Object.fromEntries([...histogram.entries()].sort(([a], [b]) => String(a).localeCompare(String(b))));
      console.log(
        `fuzz: ${sentCount} requests in ${seconds.toFixed(1)} s (${Math.round(sentCount / seconds)}/s); RSS ${(rssBefore / 2 ** 20).toFixed(1)} MiB before, ` +
          `${(rssPeak / 2 ** 20).toFixed(1)} MiB peak, ${(rssAfter / 2 ** 20).toFixed(1)} MiB after; statuses ${JSON.stringify(statuses)}`,
      );

      expect(caas.process.exitCode).toBeNull();
      expect((await caas.request("/healthz")).status).toBe(200);
      expect(caas.output()).not.toContain("internal_error");
      expect([...histogram.keys()].filter((status) => typeof status === "number" && status >= 500)).toEqual([]);
      // Bounded: a few thousand requests may warm caches up; tens of thousands must not keep growing it.
      expect(rssPeak).toBeLessThan(rssBefore + 256 * 2 ** 20);
    },
    Math.max(120_000, RUNS * 10),
  );
});

// ---------------------------------------------------------------------------------------------
// Host, X-Request-Id and traceparent

/** CAAS_FUZZ_HEADER_RUNS sets the number of requests (default 1,200, a few seconds here). */
const HEADER_RUNS = Number(process.env.CAAS_FUZZ_HEADER_RUNS ?? 1_200);
/** Bun's limit on a request line and its headers together (docs/security.md, Limits). */
const BUN_HEAD_LIMIT = 16 * 1024;
/** The X-Request-Id caas keeps (docs/operations.md, Request ids and tracing); any other is replaced. */
const KEPT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A header value on the wire: no CR or LF, which would end it and start another header. */
const headerValue = fc.oneof(
  {
    arbitrary: fc.constantFrom("", " ", "\t", "@", "a b", "user@localhost", "h\u00e9te", "[::1]:8443", ":8443", "localhost", "x"),
    weight: 3,
  },
  { arbitrary: fc.string({ maxLength: 60 }), weight: 3 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 30 }), weight: 2 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 30 }).map((text) => text.replace(/[\r\n]/g, "")), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom("a", "\u00e9", "@", " ", "7", "\u{1F510}"), fc.integer({ min: 100, max: 7_000 }))
      .map(([unit, count]) => unit.repeat(count)),
    weight: 1,
  },
);
const requestIdValue = fc.oneof(
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,140}$/), weight: 2 },
  { arbitrary: fc.uuid(), weight: 1 },
  { arbitrary: headerValue, weight: 3 },
);
const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`));
const traceparentValue = fc.oneof(
  {
    arbitrary: fc.tuple(hex(32), hex(16), hex(2)).map(([trace, parent, flags]) => `00-${trace}-${parent}-${flags}`),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom(`00-${"0".repeat(32)}-${"1".repeat(16)}-01`, `ff-${"a".repeat(32)}-${"b".repeat(16)}-01`, "00--", "00"),
    weight: 1,
  },
  { arbitrary: headerValue, weight: 3 },
);
/** Routes that answer 200, 401, 404 and 405, an audited one among them; the 401 is logged with the trace id. */
const headerTarget = fc.constantFrom(
  { method: "GET", path: "/healthz", body: "" },
  { method: "GET", path: "/nope", body: "" },
  { method: "GET", path: "/encrypt", body: "" },
  { method: "POST", path: "/encrypt", body: "{}" },
  { method: "POST", path: "/oracleinvocation", body: '{"data":"x"}' },
);
const headerRequest = fc.record({
  target: headerTarget,
  host: fc.option(headerValue, { nil: null, freq: 10 }),
  requestId: fc.option(requestIdValue, { nil: undefined }),
  traceparent: fc.option(traceparentValue, { nil: undefined }),
});
type HeaderRequest = typeof headerRequest extends fc.Arbitrary<infer T> ? T : never;

/** A header value as a server reads it: optional whitespace around it dropped (RFC 9110 §5.5). */
const trimmed = (value: string) => value.replace(/^[ \t]+|[ \t]+$/g, "");

/** A control character other than a tab (which a header value may hold): Bun refuses the request. */
const hasControlCharacter = (value: string) =>
  [...value].some((char) => {
    const code = char.charCodeAt(0);
    return (code < 0x20 && code !== 0x09) || code === 0x7f;
  });

const headerHistogram = new Map<string, number>();

/** What is wrong with caas's (or Bun's) answer to `sent`; empty when it keeps the promise. */
async function headerProblems(sent: HeaderRequest, headBytes: number, answer: Response | "closed"): Promise<string[]> {
  if (answer === "closed") return ["the connection was closed without an answer"];
  const requestId = answer.headers.get("x-request-id");
  if (requestId === null) {
    // Bun's own answer, before caas saw the request: plain, empty or text, none of caas's headers.
    headerHistogram.set(`Bun ${answer.status}`, (headerHistogram.get(`Bun ${answer.status}`) ?? 0) + 1);
    const found: string[] = [];
    if (answer.status !== 400 && answer.status !== 431) found.push(`an answer without caas's headers: ${answer.status}`);
    if (answer.headers.has("strict-transport-security") || answer.headers.get("content-type")?.startsWith("application/json"))
      found.push("an answer with some of caas's headers but no request id");
    // headBytes counts the values only: the names and framing around them are under 512 bytes.
    if (answer.status === 431 && headBytes < BUN_HEAD_LIMIT - 512) found.push(`431 for a head of ${headBytes} bytes`);
    // Bun's 400s here: HTTP/1.1 without a Host, or a control character in a header value.
    const values = [sent.host, sent.requestId, sent.traceparent].filter((value) => value !== undefined && value !== null);
    if (answer.status === 400 && sent.host !== null && !values.some(hasControlCharacter))
      found.push("Bun's 400 for a request with a Host and no control character");
    return found;
  }
  headerHistogram.set(String(answer.status), (headerHistogram.get(String(answer.status)) ?? 0) + 1);
  const found: string[] = [];
  if (answer.status >= 500) found.push(`status ${answer.status}`);
  if (!answer.headers.get("content-type")?.startsWith("application/json")) found.push(`content-type ${answer.headers.get("content-type")}`);
  if (answer.headers.get("cache-control") !== "no-store") found.push("no Cache-Control: no-store");
  if (answer.headers.get("x-content-type-options") !== "nosniff") found.push("no X-Content-Type-Options");
  if (!answer.headers.get("strict-transport-security")?.startsWith("max-age=")) found.push("no Strict-Transport-Security");
  const sentId = sent.requestId === undefined ? undefined : trimmed(sent.requestId);
  const expectedId = sentId !== undefined && KEPT_REQUEST_ID.test(sentId) ? sentId : undefined;
  if (expectedId === undefined ? !/^[0-9a-f-]{36}$/.test(requestId) : requestId !== expectedId)
    found.push(`X-Request-Id '${requestId.slice(0, 40)}' for '${sent.requestId?.slice(0, 40)}'`);
  try {
    const body: unknown = JSON.parse(await answer.text());
    if (answer.status >= 400 && !(typeof body === "object" && body !== null && "error" in body))
      found.push("a 4xx without an error object");
  } catch {
    found.push("a body that is not JSON");
  }
  return found;
}

describe(`Host, X-Request-Id and traceparent over raw TLS (${HEADER_RUNS} requests)`, () => {
  it("answers every request Bun hands over in JSON with caas's headers and the request id it keeps; Bun's own are plain 400s and 431s", async () => {
    const batches = Math.ceil(HEADER_RUNS / CONCURRENCY);
    await fc.assert(
      fc.asyncProperty(fc.array(headerRequest, { minLength: CONCURRENCY, maxLength: CONCURRENCY }), async (batch) => {
        const results = await Promise.all(
          batch.map(async (sent) => {
            const headers: Record<string, string> = { "content-type": "application/json" };
            if (sent.requestId !== undefined) headers["x-request-id"] = sent.requestId;
            if (sent.traceparent !== undefined) headers.traceparent = sent.traceparent;
            const headBytes = encoder.encode(
              [sent.target.method, sent.target.path, sent.host ?? "", ...Object.values(headers)].join(" "),
            ).length;
            const answer = await sendRaw(
              { method: sent.target.method, path: sent.target.path, body: sent.target.body, contentType: "", auth: {} },
              headers,
              sent.host,
            );
            const short = (value: string | null | undefined) => (value === null || value === undefined ? value : value.slice(0, 60));
            return {
              sent: { ...sent.target, host: short(sent.host), requestId: short(sent.requestId), traceparent: short(sent.traceparent) },
              problems: await headerProblems(sent, headBytes, answer),
            };
          }),
        );
        expect(results.filter((result) => result.problems.length > 0)).toEqual([]);
      }),
      { numRuns: batches, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: false },
    );
    console.log(`header fuzz: statuses ${JSON.stringify(Object.fromEntries(headerHistogram))}`);
    // Some of each: a request Bun refuses (no Host) and every route's own answer.
    for (const status of ["200", "401", "404", "405", "Bun 400"]) expect(headerHistogram.get(status) ?? 0).toBeGreaterThan(0);
    expect(caas.process.exitCode).toBeNull();
    expect(caas.output()).not.toContain("internal_error");
    expect(caas.output()).not.toMatch(/\bat .*:\d+:\d+/);
  }, 120_000);
});
