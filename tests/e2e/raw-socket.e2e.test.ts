/**
 * dist/caas against request lines and headers no HTTP client library would send, written to a raw
 * TLS socket: missing and odd Host values, absolute and authority form, fragments, dot segments,
 * HTTP/1.0, pipelining, odd methods, long and odd paths, and keyring names that try to be
 * another key (dot segments, encoded slashes). Every request Bun hands to caas gets a
 * JSON answer with caas's headers; the ones Bun answers itself are listed as such, so a Bun
 * upgrade that changes them is noticed. The log stays quiet: no stack trace, no line per request.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { rmSync } from "node:fs";
import { connect } from "node:tls";
import { join } from "node:path";
import { addApiKey, cliOk, startCaas, tempDir, type RunningCaas } from "./harness.ts";

// A keyring with keys "orders" and "invoices", and an API key that may use "orders" alone: a
// target that reached "invoices" with it would be answered 200, where every such row wants a refusal.
const files = tempDir("caas-raw-socket-");
const keyringEnv = {
  CAAS_ROOT_KEY_FILE: join(files, "root-key"),
  CAAS_KEYRING_FILE: join(files, "keyring.json"),
  CAAS_API_KEYS_FILE: join(files, "api-keys.json"),
};
cliOk("root-key", "init", keyringEnv.CAAS_ROOT_KEY_FILE);
for (const name of ["orders", "invoices"]) {
  cliOk("keyring", "create", name, "--file", keyringEnv.CAAS_KEYRING_FILE, "--root-key", keyringEnv.CAAS_ROOT_KEY_FILE);
}
const ORDERS_KEY = addApiKey("orders-only", keyringEnv.CAAS_API_KEYS_FILE, "--scope", "keyring:orders");

let caas: RunningCaas;
let requestsSent = 0;
beforeAll(async () => {
  caas = await startCaas({ env: keyringEnv });
});
afterAll(async () => {
  await caas.stop();
  rmSync(files, { recursive: true, force: true });
});

interface RawAnswer {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** Parses whole answers off the front of `bytes`; `bodiless[i]` says answer i has no body (HEAD). */
function parseAnswers(bytes: Buffer, bodiless: readonly boolean[]): RawAnswer[] {
  const answers: RawAnswer[] = [];
  let at = 0;
  for (;;) {
    const end = bytes.indexOf("\r\n\r\n", at, "latin1");
    if (end < 0) return answers;
    const lines = bytes.subarray(at, end).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? "0");
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    let bodyStart = end + 4;
    let body = "";
    if (bodiless[answers.length] !== true) {
      if (headers.get("transfer-encoding") === "chunked") {
        const chunks: Buffer[] = [];
        for (;;) {
          const lineEnd = bytes.indexOf("\r\n", bodyStart, "latin1");
          if (lineEnd < 0) return answers;
          const size = Number.parseInt(bytes.subarray(bodyStart, lineEnd).toString("latin1"), 16);
          if (bytes.length < lineEnd + 2 + size + 2) return answers;
          chunks.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
          bodyStart = lineEnd + 2 + size + 2;
          if (size === 0) break;
        }
        body = Buffer.concat(chunks).toString("utf8");
      } else {
        const length = Number(headers.get("content-length") ?? "0");
        if (bytes.length < bodyStart + length) return answers;
        body = bytes.subarray(bodyStart, bodyStart + length).toString("utf8");
        bodyStart += length;
      }
    }
    answers.push({ status, headers, body });
    at = bodyStart;
  }
}

interface Exchange {
  readonly answers: readonly RawAnswer[];
  /** The server closed the connection (rather than our giving up or having all we asked for). */
  readonly closed: boolean;
}

/** Writes `request` as is and reads until `expected` answers arrived or the server closed. */
function exchange(request: string, expected = 1, bodiless: readonly boolean[] = []): Promise<Exchange> {
  requestsSent += Math.max(expected, 1);
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    const socket = connect({ host: "127.0.0.1", port: caas.port, rejectUnauthorized: false }, () =>
      socket.write(Buffer.from(request, "utf8")),
    );
    const finish = (closed: boolean) => {
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ answers: parseAnswers(Buffer.concat(received), bodiless), closed });
    };
    // Only against a hang: a case that needs it fails on the missing answers, not on time.
    const giveUp = setTimeout(() => finish(false), 15_000);
    socket.on("data", (data: Buffer) => {
      received.push(data);
      if (parseAnswers(Buffer.concat(received), bodiless).length >= expected) finish(false);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => finish(true));
  });
}

/** What a client sees from caas itself: JSON, and the headers every caas answer carries. */
function expectCaasAnswer(answer: RawAnswer | undefined, status: number, code?: string): void {
  expect(answer).toBeDefined();
  if (answer === undefined) return;
  expect(answer.status).toBe(status);
  expect(answer.headers.get("content-type")).toStartWith("application/json");
  expectCaasHeaders(answer);
  const body: unknown = JSON.parse(answer.body);
  if (code !== undefined) expect(body).toMatchObject({ error: { code } });
}

function expectCaasHeaders(answer: RawAnswer): void {
  expect(answer.headers.get("cache-control")).toBe("no-store");
  expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
  expect(answer.headers.get("strict-transport-security")).toStartWith("max-age=");
  expect(answer.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
}

const get = (target: string, host: string | null = "localhost", version = "1.1") =>
  `GET ${target} HTTP/${version}\r\n${host === null ? "" : `Host: ${host}\r\n`}Connection: close\r\n\r\n`;
const requestLine = (line: string, headers = "Host: localhost\r\n") => `${line}\r\n${headers}Connection: close\r\n\r\n`;
const post = (target: string, body = "{}") =>
  `POST ${target} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;

/** A keyring call with the key that may use "orders" alone; `version` "1.0" sends it without a Host. */
const keyringPost = (target: string, version = "1.1", body = '{"data":"x"}') =>
  `POST ${target} HTTP/${version}\r\n${version === "1.0" ? "" : "Host: localhost\r\n"}Authorization: Bearer ${ORDERS_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;

type Expected =
  /** caas answers: JSON with its headers, this status and (for an error) this code. */
  | { readonly caas: number; readonly code?: string; readonly bodiless?: true }
  /** Bun answers itself, before caas sees the request: this status, no caas headers. */
  | { readonly bun: number }
  /** Bun closes the connection without an answer. */
  | { readonly bunCloses: true };

const CASES: ReadonlyArray<readonly [string, string, Expected]> = [
  // Host: missing, empty, odd. Bun hands caas the bare target when the Host is unusable.
  ["HTTP/1.0 without Host", get("/healthz", null, "1.0"), { caas: 200 }],
  ["HTTP/1.0 without Host, unknown path", get("/nope", null, "1.0"), { caas: 404, code: "not_found" }],
  ["HTTP/1.0 without Host, wrong method", get("/encrypt", null, "1.0"), { caas: 405, code: "method_not_allowed" }],
  ["HTTP/1.0 without Host, a path whose 12th character is /", get("/aaaaaaaaaa/healthz", null, "1.0"), { caas: 404, code: "not_found" }],
  ["HTTP/1.1 without Host", get("/healthz", null), { bun: 400 }],
  ["empty Host, unknown path", get("/nope", ""), { caas: 404, code: "not_found" }],
  ["empty Host, wrong method", get("/encrypt", ""), { caas: 405, code: "method_not_allowed" }],
  ["Host: :8443", get("/nope", ":8443"), { caas: 404, code: "not_found" }],
  ["Host with a space", get("/encrypt", "a b"), { caas: 405, code: "method_not_allowed" }],
  ["Host with @", get("/nope", "user@localhost"), { caas: 404, code: "not_found" }],
  ["Host with non-ASCII", get("/nope", "h\u00e9te"), { caas: 404, code: "not_found" }],
  ["Host with a slash", get("/nope", "a/b"), { caas: 404, code: "not_found" }],
  ["Host of one character", get("/healthz", "x"), { caas: 200 }],
  ["Host of two characters", get("/healthz", "ab"), { caas: 200 }],
  ["Host of two characters, a path whose 12th character is /", get("/zz/healthz", "ab"), { caas: 404, code: "not_found" }],
  ["IPv6 Host with a port", get("/healthz", "[::1]:8443"), { caas: 200 }],
  ["two Host headers", requestLine("GET /nope HTTP/1.1", "Host: a\r\nHost: b\r\n"), { caas: 404, code: "not_found" }],
  // Target forms.
  ["absolute form", get("https://evil.example/healthz"), { caas: 200 }],
  ["absolute form with http", get("http://localhost/nope"), { caas: 404, code: "not_found" }],
  ["absolute form without a path", get("https://localhost"), { caas: 404, code: "not_found" }],
  [
    "absolute form with dot segments onto a caas path",
    post("https://evil.example/oracleinvocation/../encrypt"),
    { caas: 400, code: "invalid_target" },
  ],
  [
    "authority form (CONNECT)",
    requestLine("CONNECT localhost:8443 HTTP/1.1", "Host: localhost:8443\r\n"),
    { caas: 400, code: "invalid_target" },
  ],
  ["authority form (CONNECT) without Host", requestLine("CONNECT localhost:8443 HTTP/1.1", ""), { bun: 400 }],
  ["asterisk form (OPTIONS *)", requestLine("OPTIONS * HTTP/1.1"), { bun: 400 }],
  ["a target without a leading slash", requestLine("GET healthz HTTP/1.1"), { bun: 400 }],
  // Fragments: a request-target has none (RFC 9112).
  ["fragment on a POST path", post("/encrypt#frag"), { caas: 400, code: "invalid_target" }],
  ["fragment on a GET path", get("/healthz#x"), { caas: 400, code: "invalid_target" }],
  ["empty fragment after a query", get("/healthz?a=1#"), { caas: 400, code: "invalid_target" }],
  ["fragment without Host", get("/encrypt#frag", null, "1.0"), { caas: 400, code: "invalid_target" }],
  // Dot segments: refused, not resolved.
  ["dot-dot onto a caas path", post("/oracleinvocation/../encrypt"), { caas: 400, code: "invalid_target" }],
  ["dot-dot onto /readyz", get("/healthz/../readyz"), { caas: 400, code: "invalid_target" }],
  ["percent-encoded dot-dot", post("/oracleinvocation/%2e%2e/encrypt"), { caas: 400, code: "invalid_target" }],
  ["mixed-case percent-encoded dot-dot", get("/x/.%2E/healthz"), { caas: 400, code: "invalid_target" }],
  ["a single dot segment", get("/./healthz"), { caas: 400, code: "invalid_target" }],
  ["a trailing dot segment", get("/healthz/."), { caas: 400, code: "invalid_target" }],
  ["a trailing percent-encoded dot", get("/healthz/%2e"), { caas: 400, code: "invalid_target" }],
  ["dot-dot with a query", post("/x/../encrypt?a=b"), { caas: 400, code: "invalid_target" }],
  ["dot-dot without Host", get("/x/../healthz", null, "1.0"), { caas: 400, code: "invalid_target" }],
  ["dot-dot with an empty Host", get("/x/%2E%2E/healthz", ""), { caas: 400, code: "invalid_target" }],
  ["dot-dot to a path caas does not serve", get("/healthz/.."), { caas: 404, code: "not_found" }],
  ["dots that are not a segment", get("/healthz..."), { caas: 404, code: "not_found" }],
  ["a dot in a query", get("/healthz?next=../metrics"), { caas: 200 }],
  // Keyring routes: a name is one segment, and no target reaches a key but the one it names.
  ["a keyring call", keyringPost("/keyring/orders/encrypt"), { caas: 200 }],
  ["a keyring call on a key the caller may not use", keyringPost("/keyring/invoices/encrypt"), { caas: 403, code: "forbidden" }],
  // Resolved, it is /keyring/encrypt, which caas does not serve (as "dot-dot to a path caas does not serve").
  ["dot-dot in place of a keyring name", keyringPost("/keyring/x/../encrypt"), { caas: 404, code: "not_found" }],
  ["dot-dot from one keyring key to another", keyringPost("/keyring/invoices/../orders/encrypt"), { caas: 400, code: "invalid_target" }],
  ["dot-dot to another keyring key", keyringPost("/keyring/orders/../invoices/encrypt"), { caas: 400, code: "invalid_target" }],
  ["dot-dot to another keyring operation", keyringPost("/keyring/orders/encrypt/../decrypt"), { caas: 400, code: "invalid_target" }],
  ["a percent-encoded dot-dot as a keyring name", keyringPost("/keyring/%2e%2e/encrypt"), { caas: 400, code: "invalid_target" }],
  ["a mixed-case percent-encoded dot-dot as a keyring name", keyringPost("/keyring/.%2E/encrypt"), { caas: 400, code: "invalid_target" }],
  ["a dot as a keyring name", keyringPost("/keyring/./encrypt"), { caas: 400, code: "invalid_target" }],
  [
    "dot-dot in a keyring path without Host",
    keyringPost("/keyring/invoices/../orders/encrypt", "1.0"),
    { caas: 400, code: "invalid_target" },
  ],
  [
    "a percent-encoded dot-dot as a keyring name without Host",
    keyringPost("/keyring/%2E%2E/encrypt", "1.0"),
    { caas: 400, code: "invalid_target" },
  ],
  ["an encoded slash in a keyring name", keyringPost("/keyring/orders%2Fx/encrypt"), { caas: 403, code: "forbidden" }],
  [
    "encoded slashes and dots to another keyring key",
    keyringPost("/keyring/orders%2F..%2Finvoices/encrypt"),
    { caas: 403, code: "forbidden" },
  ],
  ["encoded slashes and dots back to the key", keyringPost("/keyring/invoices%2F..%2Forders/encrypt"), { caas: 403, code: "forbidden" }],
  ["an encoded slash before the operation", keyringPost("/keyring/orders%2Fencrypt"), { caas: 404, code: "not_found" }],
  ["an encoded colon in a keyring name", keyringPost("/keyring/orders%3Aencrypt/encrypt"), { caas: 403, code: "forbidden" }],
  ["a percent-encoded letter in a keyring name", keyringPost("/keyring/%6Frders/encrypt"), { caas: 200 }],
  ["an empty keyring name", keyringPost("/keyring//encrypt"), { caas: 404, code: "not_found" }],
  ["a keyring name with a NUL", keyringPost("/keyring/orders%00/encrypt"), { caas: 403, code: "forbidden" }],
  // Methods.
  ["TRACE", requestLine("TRACE / HTTP/1.1"), { caas: 404, code: "not_found" }],
  ["TRACE on a caas path", requestLine("TRACE /healthz HTTP/1.1"), { caas: 405, code: "method_not_allowed" }],
  ["OPTIONS on a caas path", requestLine("OPTIONS /encrypt HTTP/1.1"), { caas: 405, code: "method_not_allowed" }],
  ["PATCH on a POST path", requestLine("PATCH /encrypt HTTP/1.1"), { caas: 405, code: "method_not_allowed" }],
  ["DELETE", requestLine("DELETE /oracleinvocation HTTP/1.1"), { caas: 405, code: "method_not_allowed" }],
  ["HEAD on a GET path", requestLine("HEAD /healthz HTTP/1.1"), { caas: 200, bodiless: true }],
  ["an unknown method", requestLine("FOO / HTTP/1.1"), { bunCloses: true }],
  ["a lower-case method", requestLine("get /healthz HTTP/1.1"), { bunCloses: true }],
  // Versions and request-line syntax.
  ["HTTP/2.0 in a request line", get("/healthz", "localhost", "2.0"), { bun: 505 }],
  ["HTTP/0.9 in a request line", get("/healthz", "localhost", "0.9"), { bun: 505 }],
  ["a request line without a version", requestLine("GET /healthz"), { bun: 505 }],
  ["a space in the target", requestLine("GET /a b HTTP/1.1"), { bun: 505 }],
  ["a control character in the target", requestLine("GET /\u0001 HTTP/1.1"), { bun: 505 }],
  // Paths.
  ["a long path", get(`/${"a".repeat(8_000)}`), { caas: 404, code: "not_found" }],
  ["a path past Bun's header limit", get(`/${"a".repeat(17_000)}`), { bun: 431 }],
  ["a long query", get(`/healthz?${"q".repeat(8_000)}`), { caas: 200 }],
  ["an empty query", get("/healthz?"), { caas: 200 }],
  ["a query on a POST path", post("/encrypt?x=1", "[]"), { caas: 401, code: "unauthorized" }],
  ["a percent-encoded letter", get("/%68ealthz"), { caas: 404, code: "not_found" }],
  ["invalid percent-encoding", get("/%zz"), { caas: 404, code: "not_found" }],
  ["a percent-encoded NUL", get("/%00"), { caas: 404, code: "not_found" }],
  ["a percent-encoded slash", get("/swagger%2fjson"), { caas: 404, code: "not_found" }],
  ["a non-ASCII path", get("/h\u00e9"), { caas: 404, code: "not_found" }],
  ["a backslash", get("/\\healthz"), { caas: 404, code: "not_found" }],
  ["a trailing slash", get("/healthz/"), { caas: 200 }],
  ["two trailing slashes", get("/healthz//"), { caas: 404, code: "not_found" }],
  ["a double leading slash", get("//healthz"), { caas: 404, code: "not_found" }],
  ["a double slash inside", get("/swagger//json"), { caas: 404, code: "not_found" }],
  ["upper case", get("/HEALTHZ"), { caas: 404, code: "not_found" }],
  ["a semicolon parameter", get("/healthz;x=1"), { caas: 404, code: "not_found" }],
  ["the root", get("/"), { caas: 404, code: "not_found" }],
  // Headers.
  ["headers past Bun's limit", requestLine("GET /healthz HTTP/1.1", `Host: localhost\r\nX-Big: ${"b".repeat(17_000)}\r\n`), { bun: 431 }],
  ["a header without a colon", requestLine("GET /healthz HTTP/1.1", "Host: localhost\r\nno-colon\r\n"), { bun: 400 }],
  [
    "Transfer-Encoding and Content-Length together",
    requestLine("POST /encrypt HTTP/1.1", "Host: localhost\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n"),
    { bun: 400 },
  ],
];

describe("raw request lines and headers", () => {
  it("the table has at least 40 cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES.map(([name, request, expected]) => [name, request, expected] as const))("%s", async (_name, request, expected) => {
    const bodiless = "caas" in expected && expected.bodiless === true;
    const { answers, closed } = await exchange(request, 1, [bodiless]);
    if ("bunCloses" in expected) {
      expect(answers).toEqual([]);
      expect(closed).toBe(true);
    } else if ("bun" in expected) {
      expect(answers[0]?.status).toBe(expected.bun);
      expect(answers[0]?.headers.has("x-request-id")).toBe(false);
    } else if (bodiless) {
      expect(answers[0]?.status).toBe(expected.caas);
      expect(answers[0]?.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(answers[0]?.headers.get("cache-control")).toBe("no-store");
    } else {
      expectCaasAnswer(answers[0], expected.caas, expected.code);
    }
  });
});

/** Answers compared by what routing decides: status, error code, Allow. */
async function routedAs(target: string, host: string | null, version = "1.1"): Promise<string> {
  const { answers } = await exchange(get(target, host, version));
  const answer = answers[0];
  if (answer === undefined) return "no answer";
  expectCaasHeaders(answer);
  // Every answer is JSON (/metrics is not on this port: its 404 is JSON too).
  const json = answer.headers.get("content-type")?.startsWith("application/json") === true;
  const body: unknown = json ? JSON.parse(answer.body) : undefined;
  const code = typeof body === "object" && body !== null && "error" in body ? JSON.stringify(body.error) : "";
  return `${answer.status} ${answer.headers.get("content-type")} ${code} allow=${answer.headers.get("allow") ?? ""}`;
}

describe("routing does not depend on the Host", () => {
  const paths = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/swagger/json",
    "/encrypt",
    "/nope",
    "/a/healthz",
    "/zz/healthz",
    "/aaaaaaaaaa/healthz",
    "/aaaaaa/metrics",
    "/",
    "/healthz/",
    "/x/y/z/w/metrics",
  ];
  const hosts: ReadonlyArray<readonly [string, string | null, string]> = [
    ["no Host (HTTP/1.0)", null, "1.0"],
    ["an empty Host", "", "1.1"],
    ["Host x", "x", "1.1"],
    ["Host ab", "ab", "1.1"],
    ["Host abc", "abc", "1.1"],
    ["Host [::1]", "[::1]", "1.1"],
    ["Host [::1]:8443", "[::1]:8443", "1.1"],
    ["Host localhost:8443", "localhost:8443", "1.1"],
    ["Host :8443", ":8443", "1.1"],
    ["Host a b", "a b", "1.1"],
  ];
  it.each(paths)("GET %s", async (path) => {
    const expected = await routedAs(path, "localhost");
    const seen: Record<string, string> = {};
    const wanted: Record<string, string> = {};
    for (const [name, host, version] of hosts) {
      seen[name] = await routedAs(path, host, version);
      wanted[name] = expected;
    }
    // The absolute form names its own host, of any length, ahead of the Host header.
    for (const authority of ["x", "ab", "[::1]", "evil.example:1"]) {
      seen[`absolute form via ${authority}`] = await routedAs(`https://${authority}${path}`, "localhost");
      seen[`absolute form via ${authority}, HTTP/1.0 without Host`] = await routedAs(`https://${authority}${path}`, null, "1.0");
      wanted[`absolute form via ${authority}`] = expected;
      wanted[`absolute form via ${authority}, HTTP/1.0 without Host`] = expected;
    }
    expect(seen).toEqual(wanted);
  });
});

describe("keyring targets", () => {
  it("seal under the key their name spells, and no other", async () => {
    for (const target of [
      "/keyring/orders/encrypt",
      "/keyring/orders/encrypt/",
      "/keyring/%6Frders/encrypt",
      "/keyring/%6f%72%64%65%72%73/encrypt",
    ]) {
      const { answers } = await exchange(keyringPost(target, "1.1", '{"data":"raw socket"}'));
      expectCaasAnswer(answers[0], 200);
      const { ciphertext } = JSON.parse(answers[0]?.body ?? "{}") as { ciphertext: string };
      // A ciphertext is bound to its key's name: only "orders" opens it.
      const opened = await caas.post("/keyring/orders/decrypt", { ciphertext }, { authorization: `Bearer ${ORDERS_KEY}` });
      expect({ target, opened: await opened.json() }).toEqual({ target, opened: { data: "raw socket" } });
    }
  });
});

describe("pipelined requests", () => {
  it("answers 500 pipelined requests with an empty Host in JSON, in order", async () => {
    const count = 500;
    const one = (i: number) => `GET /nope-${i} HTTP/1.1\r\nHost:\r\n${i === count - 1 ? "Connection: close\r\n" : ""}\r\n`;
    const { answers } = await exchange(Array.from({ length: count }, (_, i) => one(i)).join(""), count);
    expect(answers.length).toBe(count);
    for (const answer of answers) expectCaasAnswer(answer, 404, "not_found");
  });

  it("answers each of a mixed pipeline on its own", async () => {
    const requests = [
      "GET /healthz HTTP/1.1\r\nHost: ab\r\n\r\n",
      "POST /encrypt#frag HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
      "GET /x/../readyz HTTP/1.1\r\nHost: localhost\r\n\r\n",
      "GET /encrypt HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
    ];
    const { answers } = await exchange(requests.join(""), requests.length);
    expectCaasAnswer(answers[0], 200);
    expectCaasAnswer(answers[1], 400, "invalid_target");
    expectCaasAnswer(answers[2], 400, "invalid_target");
    expectCaasAnswer(answers[3], 405, "method_not_allowed");
  });
});

describe("the log", () => {
  it("has no stack trace and at most one line per request", async () => {
    // Last in the file: by now every request above has been sent.
    const lines = caas
      .output()
      .split("\n")
      .filter((line) => line !== "");
    expect(lines.length).toBeLessThanOrEqual(requestsSent);
    for (const line of lines) {
      expect(() => JSON.parse(line)).not.toThrow();
      expect(line).not.toMatch(/\bat .*:\d+:\d+|Something went wrong|stack/i);
    }
    expect(caas.output()).not.toContain("internal_error");
  });
});
