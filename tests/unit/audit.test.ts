/**
 * The audit trail in-process: which routes it covers (every route that touches a secret, so a
 * new one cannot be left out), the one call a route makes to add what only it knows, and how a
 * trail that fails refuses and recovers. The end-to-end promises are in tests/e2e/audit.e2e.test.ts.
 */
import { describe, expect, it } from "bun:test";
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Elysia } from "elysia";
import { testApp, testCredentials } from "./helpers.ts";
import { scratchDirectories } from "./scratch.ts";
import { AppendFailed, AppendFile, type Appended, type Appender } from "../../src/files/append-file.ts";
import { appAudit, routesOf } from "../../src/app.ts";
import { Metrics } from "../../src/http/metrics.ts";
import { instrument } from "../../src/server/instrument.ts";
import { AuditUnavailable } from "../../src/errors.ts";
import { Audit, AuditTrail, auditPlugin } from "../../src/http/audit.ts";
import { errorAnswer } from "../../src/http/error-answers.ts";
import { REQUEST_ID_HEADER } from "../../src/http/headers.ts";
import { RouteTable } from "../../src/http/routes.ts";
import { clientRequestIdOf, traceIdOf } from "../../src/http/request-ids.ts";
import { silentLogger } from "../../src/log.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A sink that keeps lines in memory and can be made to fail as a full disk does. */
class MemorySink implements Appender {
  readonly lines: string[] = [];
  failing = false;
  reopened = 0;
  append(lines: readonly string[], done: Appended): void {
    if (this.failing) {
      done(0, new AppendFailed("ENOSPC"));
      return;
    }
    this.lines.push(lines.join(""));
    done(lines.length);
  }
  reopen(): void {
    this.reopened += 1;
  }
  parsed(): Record<string, unknown>[] {
    return this.lines.flatMap((batch) => batch.split("\n").filter(Boolean)).map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

const credentials = testCredentials({ apiKeys: [{ name: "unit-client", key: "audit-unit-test-key-0123456789" }] });

describe("which routes are audited", () => {
  const app = testApp({ credentials });

  // Every POST route reads or makes something secret (data, keys, digests); a route added later
  // without an operationId would be served without an audit line, and this says so.
  it("every POST route names its operation (operationId), and no two share one", () => {
    const posts = app.routes.filter((route) => route.method === "POST");
    expect(posts.length).toBeGreaterThanOrEqual(7);
    const operations = posts.map((route) => [route.path, route.hooks.detail?.operationId]);
    expect(operations.filter(([, operation]) => operation === undefined)).toEqual([]);
    expect(new Set(operations.map(([, operation]) => operation)).size).toBe(posts.length);
    for (const [, operation] of operations) expect(operation).toMatch(/^[a-z]+\.[a-z_]+$/);
  });

  it("names the existing operations as documented", () => {
    const named = Object.fromEntries(
      app.routes
        .filter((route) => route.hooks.detail?.operationId !== undefined)
        .map((route) => [route.path, route.hooks.detail?.operationId]),
    );
    expect(named).toEqual({
      "/oracleinvocation": "oracle.seal",
      "/oracleinvocation/batch": "oracle.seal_batch",
      "/oracleinvocation/decrypt": "oracle.open",
      "/encrypt": "pseudonym.encrypt",
      "/encrypt/batch": "pseudonym.encrypt_batch",
      "/encode": "pseudonym.encode",
      "/verify": "pseudonym.verify",
      "/keyring/:name/encrypt": "keyring.encrypt",
      "/keyring/:name/encrypt/batch": "keyring.encrypt_batch",
      "/keyring/:name/decrypt": "keyring.decrypt",
      "/keyring/:name/decrypt/batch": "keyring.decrypt_batch",
      "/keyring/:name/rewrap": "keyring.rewrap",
      "/keyring/:name/rewrap/batch": "keyring.rewrap_batch",
      "/keyring/:name/datakey": "keyring.datakey",
      "/keyring/:name/sign": "keyring.sign",
      "/keyring/:name/sign/batch": "keyring.sign_batch",
      "/keyring/:name/hmac": "keyring.hmac",
      "/keyring/:name/hmac/batch": "keyring.hmac_batch",
      "/keyring/:name/verify": "keyring.verify",
      "/keyring/:name/verify/batch": "keyring.verify_batch",
      "/keyring/:name/jwt": "keyring.jwt",
      "/keyring/:name/jwt/verify": "keyring.jwt_verify",
      "/keyring/:name/public-key": "keyring.public_key",
    });
  });
});

describe("a route's one call: audit.note()", () => {
  // The shape the keyring's routes take: a module that uses the app's audit plugin and notes the key it used.
  function keyringLikeApp(sink: MemorySink) {
    const audit = new Audit(new AuditTrail(sink));
    const plugin = auditPlugin(audit);
    const module = new Elysia({ name: "keyring-like" }).use(plugin).post(
      "/keyring/:name/encrypt",
      ({ audit: facts, params }) => {
        facts.note({ keyName: params.name, keyVersion: 3 });
        return { ciphertext: "vault:v3:..." };
      },
      { detail: { operationId: "keyring.encrypt" } },
    );
    const app = new Elysia()
      .onRequest(({ set }) => {
        set.headers[REQUEST_ID_HEADER] = "rid-1";
      })
      .onError(async (context) => {
        const answered = errorAnswer(context, { allowedMethods: () => undefined, logger: silentLogger });
        return (await audit.settleError({ request: context.request, route: context.route, facts: undefined, body: undefined }, answered))
          .response;
      })
      .use(plugin)
      .use(module);
    audit.useRoutes(new RouteTable(app.routes));
    return app;
  }

  it("puts the key's name and version in the line of a route with a path parameter", async () => {
    const sink = new MemorySink();
    const answer = await keyringLikeApp(sink).handle(new Request("http://caas/keyring/payments/encrypt", { method: "POST" }));
    expect(answer.status).toBe(200);
    expect(sink.parsed()).toEqual([
      {
        time: expect.any(String),
        requestId: expect.stringMatching(UUID),
        operation: "keyring.encrypt",
        keyName: "payments",
        keyVersion: 3,
        status: 200,
      },
    ]);
  });

  it("does not answer with the result when the line cannot be written", async () => {
    const sink = new MemorySink();
    sink.failing = true;
    const answer = await keyringLikeApp(sink).handle(new Request("http://caas/keyring/payments/encrypt", { method: "POST" }));
    expect(answer.status).toBe(503);
    expect(await answer.text()).not.toContain("vault:v3");
  });
});

describe("the trail", () => {
  const entry = {
    requestId: "r",
    clientRequestId: undefined,
    traceId: undefined,
    client: undefined,
    apiKeyName: undefined,
    operation: "oracle.seal",
    keyName: undefined,
    keyVersion: undefined,
    keyVersions: undefined,
    items: undefined,
    status: 200,
    code: undefined,
  };

  it("refuses while failing, then reopens, writes a resumed line with the refusals, and takes lines again", async () => {
    const sink = new MemorySink();
    const trail = new AuditTrail(sink);
    await trail.record(entry);
    sink.failing = true;
    const refused = await Promise.allSettled([trail.record(entry), trail.record(entry)]);
    for (const answer of refused) expect(answer.status === "rejected" && answer.reason instanceof AuditUnavailable).toBe(true);
    expect(trail.ready()).toBe(false);
    sink.failing = false;
    expect(trail.ready()).toBe(true);
    await trail.record(entry);
    expect(sink.reopened).toBeGreaterThanOrEqual(1);
    expect(sink.parsed().map((line) => [line.operation, line.refused])).toEqual([
      ["oracle.seal", undefined],
      ["audit.resumed", 2],
      ["oracle.seal", undefined],
    ]);
  });

  it("writes the lines of requests settled in one turn of the event loop with one write, in order", async () => {
    const sink = new MemorySink();
    const trail = new AuditTrail(sink);
    await Promise.all([1, 2, 3].map((n) => trail.record({ ...entry, requestId: `r${n}` })));
    await trail.record({ ...entry, requestId: "r4" });
    expect(sink.lines.length).toBe(2);
    expect(
      sink.lines[0]!.split("\n")
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { requestId: string }).requestId),
    ).toEqual(["r1", "r2", "r3"]);
  });

  it("without a sink (CAAS_AUDIT_LOG unset) takes every line and is always ready", () => {
    const trail = new AuditTrail();
    expect(trail.enabled).toBe(false);
    expect(trail.record(entry)).toBeUndefined();
    expect(trail.ready()).toBe(true);
  });

  it("writes one line per request through the app, and /readyz says 503 while it fails", async () => {
    const sink = new MemorySink();
    const app = testApp({ credentials, auditTrail: new AuditTrail(sink) });
    const seal = () =>
      app.handle(
        new Request("http://caas/oracleinvocation", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"data":"x"}',
        }),
      );
    expect((await seal()).status).toBe(200);
    sink.failing = true;
    expect((await seal()).status).toBe(503);
    expect((await app.handle(new Request("http://caas/readyz"))).status).toBe(503);
    expect((await app.handle(new Request("http://caas/healthz"))).status).toBe(200);
    sink.failing = false;
    expect((await app.handle(new Request("http://caas/readyz"))).status).toBe(200);
    expect(sink.parsed().map((line) => line.operation)).toEqual(["oracle.seal", "audit.resumed"]);
  });
});

describe("request ids and trace ids", () => {
  const headers = (values: Record<string, string>) => new Headers(values);

  it("keeps a safe X-Request-Id as the client's and ignores anything else", () => {
    expect(clientRequestIdOf(headers({ "x-request-id": "A-z0.9_:-" }))).toBe("A-z0.9_:-");
    expect(clientRequestIdOf(headers({ "x-request-id": "a".repeat(128) }))).toBe("a".repeat(128));
    for (const unsafe of ["a".repeat(129), "a b", 'a"b', "a\\b", "a/b", "a%20b", "a,b", "a;b", "a=b", "a{b}"]) {
      expect(clientRequestIdOf(headers({ "x-request-id": unsafe }))).toBeUndefined();
    }
    expect(clientRequestIdOf(headers({}))).toBeUndefined();
  });

  it("reads the trace id of a version 00 traceparent and ignores every malformed one", () => {
    const trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    expect(traceIdOf(headers({ traceparent: `00-${trace}-00f067aa0ba902b7-01` }))).toBe(trace);
    expect(traceIdOf(headers({ traceparent: `00-${trace}-00f067aa0ba902b7-00` }))).toBe(trace);
    for (const malformed of [
      `01-${trace}-00f067aa0ba902b7-01`,
      `00-${"0".repeat(32)}-00f067aa0ba902b7-01`,
      `00-${trace}-${"0".repeat(16)}-01`,
      `00-${trace.toUpperCase()}-00f067aa0ba902b7-01`,
      `00-${trace}-00f067aa0ba902b7-1`,
      `00-${trace}-00f067aa0ba902b7-01-`,
      `00-${trace}0-00f067aa0ba902b7-01`,
      `00_${trace}_00f067aa0ba902b7_01`,
      "",
    ]) {
      expect(traceIdOf(headers({ traceparent: malformed }))).toBeUndefined();
    }
    expect(traceIdOf(headers({}))).toBeUndefined();
  });
});

/** A sink whose writes finish only when the test says so: standard output read by a reader that stalls. */
class StalledSink implements Appender {
  readonly lines: string[] = [];
  constructor(readonly chunkBytes?: number) {}
  readonly #pending: { readonly lines: readonly string[]; readonly done: (written: number) => void }[] = [];
  append(lines: readonly string[], done: Appended): void {
    this.#pending.push({ lines, done });
  }
  reopen(): void {}
  /** The reader catches up: every write under way finishes. */
  drain(): void {
    for (const write of this.#pending.splice(0)) {
      this.lines.push(...write.lines);
      write.done(write.lines.length);
    }
  }
  get writesUnderWay(): number {
    return this.#pending.length;
  }
}

describe("a trail whose writes do not finish (standard output read by a reader that stalls)", () => {
  const seal = (app: ReturnType<typeof testApp>, id: string) =>
    app.handle(
      new Request("http://caas/oracleinvocation", {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": id },
        body: '{"data":"x"}',
      }),
    );
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it("never blocks the event loop, refuses at once past a bounded queue, and each request's line and answer agree", async () => {
    const sink = new StalledSink();
    // Room for about ten lines; the first write never finishes until drain().
    const trail = new AuditTrail(sink, { queueBytes: 3_000, waitMs: 60_000 });
    const app = testApp({ credentials, auditTrail: trail });
    const answers = new Map<string, Response>();
    const asked = Array.from({ length: 30 }, (_, n) => `r${n}`);
    const pending = asked.map((id) => seal(app, id).then((answer) => answers.set(id, answer)));
    // Within a few turns every request past the queue's room is refused, while the rest wait.
    for (let i = 0; i < 20; i++) await turn();
    const refusedEarly = [...answers.values()].filter((answer) => answer.status === 503).length;
    expect(refusedEarly).toBeGreaterThan(0);
    expect(answers.size).toBe(refusedEarly);
    expect(trail.ready()).toBe(false);
    expect((await app.handle(new Request("http://caas/healthz"))).status).toBe(200);
    sink.drain();
    await Promise.all(pending);
    for (let i = 0; i < 5 && sink.writesUnderWay === 0; i++) await turn();
    sink.drain();
    const written = sink.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const byId = new Map(written.filter((line) => line.clientRequestId !== undefined).map((line) => [line.clientRequestId, line]));
    for (const [id, answer] of answers) {
      expect({ id, status: answer.status, line: byId.get(id)?.status }).toEqual({
        id,
        status: answer.status,
        line: answer.status === 200 ? 200 : undefined,
      });
    }
    expect(answers.size).toBe(asked.length);
  });

  it("withdraws a line that waited too long behind a write that does not finish: 503, and it is never written", async () => {
    const sink = new StalledSink();
    const trail = new AuditTrail(sink, { waitMs: 50 });
    const app = testApp({ credentials, auditTrail: trail });
    const first = seal(app, "first");
    for (let i = 0; i < 5 && sink.writesUnderWay === 0; i++) await turn();
    expect(sink.writesUnderWay).toBe(1);
    const second = await seal(app, "second");
    expect(second.status).toBe(503);
    expect(trail.ready()).toBe(false);
    // What the alert on caas_audit_write_failures_total sees.
    expect(trail.writeFailures).toBeGreaterThan(0);
    sink.drain();
    expect((await first).status).toBe(200);
    // The next write says what was refused meanwhile.
    expect(trail.ready()).toBe(false);
    sink.drain();
    expect(trail.ready()).toBe(true);
    const written = sink.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(written.map((line) => line.clientRequestId ?? line.operation)).toEqual(["first", "audit.resumed"]);
    expect(written[1]).toMatchObject({ refused: 1 });
  });
});

describe("a trail that hands lines to standard output a few at a time", () => {
  it("keeps only those waiting behind a write that does not finish, and withdraws the rest at the deadline with no new request", async () => {
    const sink = new StalledSink(400);
    const app = testApp({ credentials, auditTrail: new AuditTrail(sink, { waitMs: 50 }) });
    const statuses = new Map<number, number>();
    const asked = Array.from({ length: 10 }, (_, n) =>
      app.handle(sealRequest()).then((answer) => {
        statuses.set(n, answer.status);
        return answer;
      }),
    );
    await Bun.sleep(200);
    const waiting = asked.length - statuses.size;
    expect(waiting).toBeGreaterThan(0);
    expect(waiting).toBeLessThan(5);
    expect([...statuses.values()].every((status) => status === 503)).toBe(true);
    sink.drain();
    const answers = await Promise.all(asked);
    const written = new Set(sink.lines.map((line) => (JSON.parse(line) as { requestId: string }).requestId));
    for (const answer of answers) expect(written.has(answer.headers.get(REQUEST_ID_HEADER) ?? "")).toBe(answer.status === 200);
    expect(answers.filter((answer) => answer.status === 200).length).toBe(waiting);
  });
});

describe("request ids in the trail", () => {
  it("gives each request an id of caas's own, unique even when clients send the same X-Request-Id", async () => {
    const sink = new MemorySink();
    const app = testApp({ credentials, auditTrail: new AuditTrail(sink) });
    const sent: Record<string, string>[] = [{ "x-request-id": "same" }, { "x-request-id": "same" }, {}];
    for (const headers of sent) {
      await app.handle(
        new Request("http://caas/oracleinvocation", {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: '{"data":"x"}',
        }),
      );
    }
    const lines = sink.parsed();
    expect(lines.map((line) => line.clientRequestId)).toEqual(["same", "same", undefined]);
    for (const line of lines) expect(line.requestId).toMatch(UUID);
    expect(new Set(lines.map((line) => line.requestId)).size).toBe(3);
  });
});

const scratch = scratchDirectories("caas-audit-unit-");
const sealRequest = () =>
  new Request("http://caas/oracleinvocation", { method: "POST", headers: { "content-type": "application/json" }, body: '{"data":"x"}' });
const fileLines = (path: string): Record<string, unknown>[] =>
  existsSync(path)
    ? readFileSync(path, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>)
    : [];

describe("a trail whose file is no longer at its path", () => {
  // What happened to the file, and where the next request's line must then be: in a file someone
  // can read (the path, or where a rotation renamed it), or nowhere with the request refused.
  it.each([
    ["deleted", (path: string) => rmSync(path), { status: 200, at: "path", recreated: true }],
    [
      "deleted, and another file put at its path",
      (path: string) => {
        rmSync(path);
        writeFileSync(path, "", { mode: 0o600 });
      },
      { status: 200, at: "path", recreated: true },
    ],
    [
      "renamed away (a rotation, before its SIGHUP)",
      (path: string) => renameSync(path, `${path}.1`),
      { status: 200, at: "renamed", recreated: false },
    ],
    [
      "its directory deleted",
      (path: string) => rmSync(dirname(path), { recursive: true }),
      { status: 503, at: "nowhere", recreated: false },
    ],
  ] as const)("%s: the line is where it can be read, or the request is refused", async (_what, happen, expected) => {
    const path = join(await scratch(), "trail", "audit.log");
    mkdirSync(dirname(path));
    const trail = new AuditTrail(new AppendFile(path));
    const app = testApp({ credentials, auditTrail: trail });
    expect((await app.handle(sealRequest())).status).toBe(200);
    // Held open as a reader of the deleted file would: it must get nothing more.
    const before = openSync(path, "r");
    const sizeBefore = fstatSync(before).size;
    happen(path);
    const answer = await app.handle(sealRequest());
    const id = answer.headers.get(REQUEST_ID_HEADER);
    expect(answer.status).toBe(expected.status);
    const where = { path: fileLines(path), renamed: fileLines(`${path}.1`), nowhere: [] }[expected.at];
    expect(where.filter((line) => line.requestId === id).length).toBe(expected.status === 200 ? 1 : 0);
    if (expected.at !== "renamed") expect(fstatSync(before).size).toBe(sizeBefore);
    closeSync(before);
    if (expected.recreated) {
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(fileLines(path)[0]).toMatchObject({ operation: "audit.recreated" });
    }
    expect((await app.handle(new Request("http://caas/readyz"))).status).toBe(expected.status === 200 ? 200 : 503);
    if (expected.status === 503) {
      // The directory is back: the next probe re-creates the file and the trail resumes.
      mkdirSync(dirname(path));
      expect((await app.handle(new Request("http://caas/readyz"))).status).toBe(200);
      expect(fileLines(path)[0]).toMatchObject({ operation: "audit.resumed", refused: 1 });
    }
  });

  it("counts nothing written to a file deleted just before the write, so its requests are refused, not answered", async () => {
    const path = join(await scratch(), "audit.log");
    const file = new AppendFile(path);
    rmSync(path);
    const outcomes: [number, string | undefined][] = [];
    file.append(['{"a":1}\n', '{"a":2}\n'], (written, error) => outcomes.push([written, error?.errno]));
    file.close();
    expect(outcomes).toEqual([[0, "ENOENT"]]);
  });

  it("notices a deletion at the readiness probe too, with no request to write", async () => {
    const path = join(await scratch(), "audit.log");
    const app = testApp({ credentials, auditTrail: new AuditTrail(new AppendFile(path)) });
    rmSync(path);
    expect((await app.handle(new Request("http://caas/readyz"))).status).toBe(200);
    expect(fileLines(path).map((line) => line.operation)).toEqual(["audit.recreated"]);
  });
});

/** A tmpfs of `bytes` (root only), or undefined where one cannot be mounted. */
function smallDisk(directory: string, bytes: number): string | undefined {
  const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", directory], { stderr: "pipe" });
  return mounted.exitCode === 0 ? directory : undefined;
}

describe("a disk that fills up in the middle of a group write", () => {
  it("answers each request as its line says: the lines written whole are answered, the rest 503, and no torn line is left", async () => {
    const directory = await scratch();
    const disk = smallDisk(directory, 16 * 1024);
    if (disk === undefined) {
      console.warn("skipped: cannot mount a tmpfs here (needs root)");
      return;
    }
    const file = new AppendFile(join(disk, "audit.log"));
    try {
      const path = file.path;
      const app = testApp({ credentials, auditTrail: new AuditTrail(file) });
      const answers: Response[] = [];
      // Rounds of 16 concurrent requests, so each group write holds several lines, until the disk is full.
      for (let round = 0; round < 40 && !answers.some((answer) => answer.status === 503); round++) {
        answers.push(...(await Promise.all(Array.from({ length: 16 }, () => app.handle(sealRequest())))));
      }
      const text = readFileSync(path, "utf8");
      expect(text.endsWith("\n")).toBe(true);
      const lines = fileLines(path);
      const statusById = new Map(lines.map((line) => [line.requestId, line.status]));
      const disagreeing = answers.filter(
        (answer) => statusById.get(answer.headers.get(REQUEST_ID_HEADER)) !== (answer.status === 200 ? 200 : undefined),
      );
      expect(disagreeing.map((answer) => answer.status)).toEqual([]);
      expect(answers.filter((answer) => answer.status === 200).length).toBe(lines.length);
      expect(answers.some((answer) => answer.status === 503)).toBe(true);
    } finally {
      file.close();
      // Lazily, should anything still hold it: the directory is removed with the other scratch ones.
      Bun.spawnSync(["umount", "--lazy", directory]);
    }
  });
});

describe("an answer made outside the app", () => {
  it("has its one line too: the last-resort 500 of a bug below the app", async () => {
    const sink = new MemorySink();
    const metrics = new Metrics();
    const audit = appAudit(new AuditTrail(sink), metrics);
    audit.useRoutes(routesOf(testApp()));
    const handle = instrument(
      () => {
        throw new RangeError("a bug");
      },
      { metrics, logger: silentLogger, audit },
    );
    const answer = await handle(sealRequest());
    expect(answer.status).toBe(500);
    expect(sink.parsed()).toEqual([
      expect.objectContaining({
        requestId: answer.headers.get(REQUEST_ID_HEADER),
        operation: "oracle.seal",
        status: 500,
        code: "internal",
      }),
    ]);
  });
});
