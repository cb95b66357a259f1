/**
 * What a client of the Django original sends and expects, against dist/caas over TLS: curl -d
 * (form-encoded), Python's requests with data= and json= and urllib (no Content-Type, text/plain,
 * or any other type) all get their JSON read on the original's routes, a byte order mark and
 * fields the original ignored included; a django-compat key gets the original's answer field for
 * field (no `version`), a standard key keeps `version`; and /verify takes exactly the longest
 * pseudonym either profile makes, and refuses one character more before any work. The Flask
 * original's clients get the oracle's answer for the forms its get_json() read.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import vectors from "../vectors/compat/django-caas-vectors.json" with { type: "json" };
import { addApiKey, cliOk, makeTestPki, startCaas, tempDir, type RunningCaas, type TestPki } from "./harness.ts";
import { README_USER } from "../../support/constants.ts";

const COMPAT_KEY = "example_api_key";
const README_DIGEST = "35db2f10e244a19686cf929071a80ac7029ad03cff2b7aebff4bac148c7dd32f64cf96c0b4122eb61f4ced1bba6672c1";
const LONGEST_DIGEST_HEX = 128;

let pki: TestPki;
let standardKey: string;
let caas: RunningCaas;

beforeAll(async () => {
  const files = tempDir("caas-django-clients-");
  pki = makeTestPki();
  const keysFile = join(files, "keys.json");
  standardKey = addApiKey("main-server", keysFile);
  cliOk("keys", "import", "django-clients", "--key", COMPAT_KEY, "--profile", "django-compat", "--file", keysFile);
  caas = await startCaas({ pki, env: { CAAS_API_KEYS_FILE: keysFile } });
});
afterAll(async () => {
  await caas.stop();
});

const compatRequest = { apiKey: COMPAT_KEY, userUUID: README_USER, sensitiveData: "example sensitive data" };

interface Answer {
  readonly status: number;
  readonly body: string;
}

function curl(path: string, args: readonly string[]): Answer {
  const result = Bun.spawnSync(["curl", "-s", "--cacert", pki.caCert, "-w", "\n%{http_code}", ...args, `${caas.url}${path}`], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = result.stdout.toString();
  const split = out.lastIndexOf("\n");
  return { body: out.slice(0, split), status: Number(out.slice(split + 1)) };
}

/** Python's standard library (urllib) and, where installed, requests: the clients the original's users wrote. */
function python(script: string): { available: boolean; answer: Answer } {
  const result = Bun.spawnSync(["python3", "-c", script, caas.url, pki.caCert], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode === 3) return { available: false, answer: { status: 0, body: "" } };
  if (result.exitCode !== 0) throw new Error(`python3 failed: ${result.stderr.toString()}`);
  const [status, ...body] = result.stdout.toString().split("\n");
  return { available: true, answer: { status: Number(status), body: body.join("\n").trimEnd() } };
}

const URLLIB = (contentType: string, path: string) => `
import json, ssl, sys, urllib.request, urllib.error
url, ca = sys.argv[1], sys.argv[2]
request = urllib.request.Request(url + ${JSON.stringify(path)}, data=json.dumps(${JSON.stringify(compatRequest)}).encode(), method="POST")
request.add_header("Content-Type", ${JSON.stringify(contentType)})
try:
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca)) as answer:
        print(answer.status); print(answer.read().decode())
except urllib.error.HTTPError as error:
    print(error.code); print(error.read().decode())
`;

const REQUESTS = (path: string, body: string) => `
import json, sys
try:
    import requests
except ImportError:
    sys.exit(3)
url, ca = sys.argv[1], sys.argv[2]
answer = requests.post(url + ${JSON.stringify(path)}, data=${body}, verify=ca)
assert "Content-Type" not in answer.request.headers, answer.request.headers
print(answer.status_code); print(answer.text)
`;

describe("clients of the Django original", () => {
  for (const path of ["/encode", "/encrypt", "/encode/"]) {
    it(`get ${path} answered for curl -d (application/x-www-form-urlencoded)`, () => {
      const answer = curl(path, ["-d", JSON.stringify(compatRequest)]);
      expect(answer).toEqual({ status: 200, body: JSON.stringify({ encrypted_data: README_DIGEST }) });
    });
  }

  it("get /encrypt/batch and /verify answered for curl -d too", () => {
    const batch = curl("/encrypt/batch", [
      "-d",
      JSON.stringify({ apiKey: COMPAT_KEY, items: [{ userUUID: README_USER, sensitiveData: "example sensitive data" }] }),
    ]);
    expect(batch).toEqual({ status: 200, body: JSON.stringify({ results: [{ encrypted_data: README_DIGEST }] }) });
    const verify = curl("/verify", ["-d", JSON.stringify({ ...compatRequest, encrypted_data: README_DIGEST })]);
    expect(verify).toEqual({ status: 200, body: JSON.stringify({ match: true }) });
  });

  it("get /encode answered for Python requests.post(url, data=json.dumps(...)), which sends no Content-Type", () => {
    const { available, answer } = python(REQUESTS("/encode", `json.dumps(${JSON.stringify(compatRequest)})`));
    if (!available) {
      console.warn("python3 has no requests module: skipped (urllib below covers a body with no Content-Type)");
      return;
    }
    expect(answer).toEqual({ status: 200, body: JSON.stringify({ encrypted_data: README_DIGEST }) });
  });

  it("get a body with no Content-Type at all read as JSON (raw request over TLS)", async () => {
    const { connect } = await import("node:tls");
    const body = JSON.stringify(compatRequest);
    const reply = await new Promise<string>((resolve, reject) => {
      let text = "";
      const socket = connect({ host: "127.0.0.1", port: caas.port, ca: pki.caCertPem, servername: "localhost" }, () => {
        socket.write(`POST /encode HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      });
      socket.on("data", (data: Buffer) => (text += data.toString("utf8")));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(reply).toStartWith("HTTP/1.1 200");
    expect(JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4))).toEqual({ encrypted_data: README_DIGEST });
  });

  for (const contentType of ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded"]) {
    it(`get /encrypt answered for Python urllib with Content-Type: ${contentType}`, () => {
      const { answer } = python(URLLIB(contentType, "/encrypt"));
      expect(answer).toEqual({ status: 200, body: JSON.stringify({ encrypted_data: README_DIGEST }) });
    });
  }

  it("still get 400 invalid_json for a body that is not JSON, whatever its type, and 415 for a charset other than UTF-8", () => {
    const form = curl("/encode", ["-d", "apiKey=example_api_key&userUUID=u&sensitiveData=d"]);
    expect(form.status).toBe(400);
    expect(JSON.parse(form.body)).toEqual({ error: { code: "invalid_json", message: expect.any(String) } });
    const multipart = curl("/encode", ["-F", `apiKey=${COMPAT_KEY}`]);
    expect(multipart.status).toBe(400);
    expect(JSON.parse(multipart.body)).toEqual({ error: { code: "invalid_json", message: expect.any(String) } });
    const latin1 = curl("/encode", ["-H", "content-type: application/json; charset=iso-8859-1", "-d", JSON.stringify(compatRequest)]);
    expect(latin1.status).toBe(415);
    expect(JSON.parse(latin1.body)).toEqual({ error: { code: "unsupported_media_type", message: expect.stringContaining("UTF-8") } });
  });

  for (const contentType of ["application/json; charset=UTF8", "text/json", "application/octet-stream", "application/vnd.api+json"]) {
    it(`get /encode answered for Content-Type: ${contentType}, as the original read any`, () => {
      const answer = curl("/encode", ["-H", `content-type: ${contentType}`, "-d", JSON.stringify(compatRequest)]);
      expect(answer).toEqual({ status: 200, body: JSON.stringify({ encrypted_data: README_DIGEST }) });
    });
  }

  it("get /encrypt and /encode answered for a body with a UTF-8 byte order mark and fields the original ignored", () => {
    const file = join(tempDir("caas-django-bom-"), "body.json");
    const forwarded = { ...compatRequest, timestamp: 1, user: { id: 7 } };
    writeFileSync(file, new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(JSON.stringify(forwarded))]));
    for (const path of ["/encrypt", "/encode/"]) {
      const answer = curl(path, ["-H", "content-type: application/json", "--data-binary", `@${file}`]);
      expect({ path, answer }).toEqual({ path, answer: { status: 200, body: JSON.stringify({ encrypted_data: README_DIGEST }) } });
    }
  });

  it("get /encode answered for Python requests.post(url, json=...) forwarding a whole object", () => {
    const script = REQUESTS("/encode", `None, json=dict(${JSON.stringify({ ...compatRequest, timestamp: 1 })})`).replace(
      'assert "Content-Type" not in answer.request.headers, answer.request.headers\n',
      "",
    );
    const { available, answer } = python(script);
    if (!available) {
      console.warn("python3 has no requests module: skipped (curl above sends the same body)");
      return;
    }
    expect(answer).toEqual({ status: 200, body: JSON.stringify({ encrypted_data: README_DIGEST }) });
  });

  it("get the oracle answered for a Flask client's forms: a +json type, a UTF-8 charset spelling, a byte order mark, a field it ignored", () => {
    const file = join(tempDir("caas-flask-bom-"), "body.json");
    writeFileSync(file, new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"data":"x","id":7}')]));
    for (const args of [
      ["-H", "content-type: application/vnd.api+json", "-d", '{"data":"x"}'],
      ["-H", "content-type: application/json; charset=UTF8", "-d", '{"data":"x","id":7}'],
      ["-H", "content-type: application/json", "--data-binary", `@${file}`],
    ]) {
      for (const path of ["/oracleinvocation", "/oracleinvocation/"]) {
        const answer = curl(path, args);
        expect({ path, args, status: answer.status, fields: Object.keys(JSON.parse(answer.body) as object).sort() }).toEqual({
          path,
          args,
          status: 200,
          fields: ["data", "key", "mac", "nonce"],
        });
      }
    }
  });

  it("leave the oracle refusing what the Flask original did not read as JSON", () => {
    for (const args of [
      ["-d", '{"data":"x"}'],
      ["-H", "content-type: text/plain", "-d", '{"data":"x"}'],
      ["-H", "content-type:", "-d", '{"data":"x"}'],
    ]) {
      for (const path of ["/oracleinvocation", "/oracleinvocation/batch", "/oracleinvocation/decrypt"]) {
        const answer = curl(path, args);
        expect({ path, args, status: answer.status, code: (JSON.parse(answer.body) as { error: { code: string } }).error.code }).toEqual({
          path,
          args,
          status: 415,
          code: "unsupported_media_type",
        });
      }
    }
  });
});

describe("the answer's shape, by key profile", () => {
  it("is exactly the original's under a django-compat key: encrypted_data and nothing else, single and batch", async () => {
    const single = await caas.post("/encrypt", compatRequest);
    expect(await single.json()).toStrictEqual({ encrypted_data: README_DIGEST });
    const batch = await caas.post("/encrypt/batch", {
      apiKey: COMPAT_KEY,
      items: [
        { userUUID: README_USER, sensitiveData: "example sensitive data" },
        { userUUID: "any id", sensitiveData: "\ud800" },
      ],
    });
    const results = ((await batch.json()) as { results: unknown[] }).results;
    expect(results[0]).toStrictEqual({ encrypted_data: README_DIGEST });
    expect(results[1]).toEqual({ error: { code: "invalid_text", message: expect.any(String) } });
  });

  it("keeps the secret version under a standard key, single and batch", async () => {
    const single = (await (
      await caas.post("/encrypt", { userUUID: README_USER, sensitiveData: "x" }, { "x-api-key": standardKey })
    ).json()) as Record<string, unknown>;
    expect(Object.keys(single).sort()).toEqual(["encrypted_data", "version"]);
    expect(single.version).toBe(1);
    const batch = (await (
      await caas.post("/encrypt/batch", { items: [{ userUUID: README_USER, sensitiveData: "x" }] }, { "x-api-key": standardKey })
    ).json()) as { results: unknown[] };
    expect(batch.results).toEqual([single]);
  });

  it("is described in OpenAPI as either shape, single and batch", async () => {
    const spec = (await (await caas.request("/swagger/json")).json()) as {
      paths: Record<string, { post: { responses: Record<string, { content: Record<string, { schema: unknown }> }> } }>;
      components: { schemas: Record<string, unknown> };
    };
    // The schema with its $refs to named schemas written out, as a client generator sees it.
    const expanded = (schema: unknown): unknown => {
      if (Array.isArray(schema)) return schema.map(expanded);
      if (typeof schema !== "object" || schema === null) return schema;
      const { $ref, ...rest } = schema as Record<string, unknown>;
      if (typeof $ref === "string") return expanded(spec.components.schemas[$ref.replace("#/components/schemas/", "")]);
      return Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, expanded(value)]));
    };
    const shapes = (path: string) => JSON.stringify(expanded(spec.paths[path]?.post.responses["200"]?.content["application/json"]?.schema));
    for (const path of ["/encrypt", "/encode", "/encrypt/batch"]) {
      expect({ path, standard: shapes(path).includes('"version"'), django: shapes(path).includes("DjangoPseudonymAnswer") }).toEqual({
        path,
        standard: true,
        django: true,
      });
    }
  });
});

describe("/verify's encrypted_data", () => {
  const longestCompat = vectors.find((vector) => vector.encrypted_data.length === LONGEST_DIGEST_HEX);

  async function longestStandard(): Promise<{ userUUID: string; encrypted_data: string }> {
    // Three of the ten pool algorithms make 512-bit digests, so a few users find one.
    for (let attempt = 0; attempt < 200; attempt++) {
      const userUUID = crypto.randomUUID();
      const made = (await (await caas.post("/encrypt", { userUUID, sensitiveData: "x" }, { "x-api-key": standardKey })).json()) as {
        encrypted_data: string;
      };
      if (made.encrypted_data.length === LONGEST_DIGEST_HEX) return { userUUID, encrypted_data: made.encrypted_data };
    }
    throw new Error("no 512-bit pseudonym in 200 users");
  }

  async function verify(body: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
    const answer = await caas.post("/verify", body, headers);
    return { status: answer.status, body: await answer.json() };
  }

  const tooLong = { status: 400, body: { error: { code: "invalid_body", message: expect.stringContaining("encrypted_data") } } };

  it("matches at the longest pseudonym a django-compat key makes, and refuses one character more", async () => {
    if (longestCompat === undefined) throw new Error("the vectors hold no 128-character digest");
    const fields = { apiKey: COMPAT_KEY, userUUID: longestCompat.userUUID, sensitiveData: longestCompat.sensitiveData };
    expect(await verify({ ...fields, encrypted_data: longestCompat.encrypted_data })).toEqual({ status: 200, body: { match: true } });
    expect(await verify({ ...fields, encrypted_data: longestCompat.encrypted_data.toUpperCase() })).toEqual({
      status: 200,
      body: { match: true },
    });
    expect(await verify({ ...fields, encrypted_data: `${longestCompat.encrypted_data}0` })).toEqual(tooLong);
  });

  it("matches at the longest pseudonym a standard key makes, and refuses one character more", async () => {
    const { userUUID, encrypted_data } = await longestStandard();
    const headers = { "x-api-key": standardKey };
    expect(await verify({ userUUID, sensitiveData: "x", encrypted_data }, headers)).toEqual({ status: 200, body: { match: true } });
    expect(await verify({ userUUID, sensitiveData: "x", encrypted_data: `${encrypted_data}0` }, headers)).toEqual(tooLong);
  });

  it("refuses a megabyte of it with 400 invalid_body, as cheaply as any bad body", async () => {
    const answer = await verify(
      { userUUID: README_USER, sensitiveData: "x", encrypted_data: "ab".repeat(500_000) },
      { "x-api-key": standardKey },
    );
    expect(answer).toEqual(tooLong);
  });
});
