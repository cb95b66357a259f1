/**
 * The audit trail against dist/caas when the world around it goes wrong, and for every request
 * to a route that touches a secret, whatever answered it: the file deleted under it, the disk
 * filling up in the middle of a group write, standard output read by a reader that stalls, and
 * each way a request can be refused before or after routing. The promise throughout: a request's
 * line and its answer agree (one line saying what the client got, or a 503 and no line), and the
 * event loop never waits on the trail.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect } from "node:tls";
import { join } from "node:path";
import { addApiKey, BINARY, cliOk, makeTestPki, startCaas, tempDir, type RunningCaas } from "./harness.ts";
import { testApp } from "../unit/helpers.ts";

type Line = Record<string, unknown>;

function linesIn(text: string): Line[] {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Line);
}

function linesOf(path: string): Line[] {
  return existsSync(path) ? linesIn(readFileSync(path, "utf8")) : [];
}

const dirs: string[] = [];
function scratch(): string {
  const dir = tempDir("caas-audit-faults-");
  dirs.push(dir);
  return dir;
}
/** Directories a small tmpfs was mounted at: unmounted (lazily, should anything still hold one) before they are removed. */
const mounts: string[] = [];
afterAll(() => {
  for (const mount of mounts) Bun.spawnSync(["umount", "--lazy", mount]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A root key, a keyring with key "orders", and API keys: "client" may use it, "encrypt-only" may only encrypt with it. */
function keyringEnv(): { env: Record<string, string>; client: string; encryptOnly: string } {
  const dir = scratch();
  const env = {
    CAAS_ROOT_KEY_FILE: join(dir, "root-key"),
    CAAS_KEYRING_FILE: join(dir, "keyring.json"),
    CAAS_API_KEYS_FILE: join(dir, "api-keys.json"),
  };
  cliOk("root-key", "init", env.CAAS_ROOT_KEY_FILE);
  cliOk("keyring", "create", "orders", "--file", env.CAAS_KEYRING_FILE, "--root-key", env.CAAS_ROOT_KEY_FILE);
  const client = addApiKey("client", env.CAAS_API_KEYS_FILE, "--scope", "keyring:orders");
  const encryptOnly = addApiKey("encrypt-only", env.CAAS_API_KEYS_FILE, "--scope", "keyring:orders:encrypt");
  return { env, client, encryptOnly };
}

/** What a client got: the status, the error code if any, and the id it sent. */
interface Answered {
  readonly id: string;
  readonly status: number;
  readonly code: string | undefined;
}

async function answered(id: string, answer: Response): Promise<Answered> {
  const text = await answer.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { id, status: answer.status, code };
}

/** Writes `request` to a raw TLS socket, as no client library would send it, and reads the one answer. */
function raw(caas: RunningCaas, request: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: "127.0.0.1", port: caas.port, rejectUnauthorized: false }, () => socket.write(request));
    socket.on("data", (data: Buffer) => chunks.push(data));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? "0");
      resolve({ status, body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
  });
}

/** Every audited route, read from the app itself (a route added later is in the table by construction), with key "orders" for ":name". */
const AUDITED = testApp()
  .routes.filter((route) => route.hooks.detail?.operationId !== undefined)
  .map((route) => ({
    path: route.path.replace(":name", "orders"),
    method: route.method,
    operation: String(route.hooks.detail?.operationId),
  }));

describe("every request to a route that touches a secret has exactly one line, whatever answered it", () => {
  let sequence = 0;
  // A safe X-Request-Id (request-ids.ts), so it is the line's clientRequestId.
  const nextId = (kind: string) => `${kind.replace(/[^A-Za-z0-9]+/g, "_")}-${sequence++}`;

  type Route = (typeof AUDITED)[number];
  /** One way a request may be answered: sends it with its own X-Request-Id, in the route's method, says what it got. */
  type Way = (caas: RunningCaas, route: Route, id: string) => Promise<Answered>;
  /** A body goes with a POST; a GET route is asked the same way without one. */
  const send =
    (body: string, headers: Record<string, string>): Way =>
    async (caas, { path, method }, id) =>
      answered(
        id,
        await caas.request(path, { method, ...(method === "POST" ? { body } : {}), headers: { "x-request-id": id, ...headers } }),
      );
  const rawWay =
    (target: (path: string) => string, status: number): Way =>
    async (caas, { path, method }, id) => {
      const body = method === "POST" ? "Content-Type: application/json\r\nContent-Length: 2\r\n" : "";
      const answer = await raw(
        caas,
        `${method} ${target(path)} HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: ${id}\r\n${body}Connection: close\r\n\r\n${method === "POST" ? "{}" : ""}`,
      );
      expect({ path, status: answer.status }).toEqual({ path, status });
      const code = (JSON.parse(answer.body) as { error: { code: string } }).error.code;
      return { id, status: answer.status, code };
    };

  /** Checks every answer against the trail: exactly one line, of its operation, saying its status and code. */
  function expectOneLineEach(trail: Line[], asked: readonly (Answered & { operation: string })[]): void {
    const byId = new Map<unknown, Line[]>();
    for (const line of trail) byId.set(line.clientRequestId, [...(byId.get(line.clientRequestId) ?? []), line]);
    const mismatches = asked.flatMap(({ id, status, code, operation }) => {
      const lines = byId.get(id) ?? [];
      const line = lines[0];
      const agrees = lines.length === 1 && line?.operation === operation && line.status === status && line.code === code;
      return agrees ? [] : [{ id, operation, status, code, lines: lines.map((l) => [l.operation, l.status, l.code]) }];
    });
    expect(mismatches).toEqual([]);
  }

  it("refused after routing (400, 401, 403, 413, 415) or before it (a target Bun rewrote, a fragment): one line each", async () => {
    const { env, client, encryptOnly } = keyringEnv();
    const auditFile = join(scratch(), "audit.log");
    const caas = await startCaas({ env: { ...env, CAAS_AUDIT_LOG: auditFile, CAAS_MAX_BODY: "2048" } });
    try {
      const json = { "content-type": "application/json" };
      const ways: Record<string, Way> = {
        "answered with a key": send("{}", { ...json, authorization: `Bearer ${client}` }),
        "invalid JSON": send("{bad", { ...json, authorization: `Bearer ${client}` }),
        "a media type not taken": send("{}", { "content-type": "application/xml", authorization: `Bearer ${client}` }),
        "a body too large": send(JSON.stringify({ data: "x".repeat(4096) }), { ...json, authorization: `Bearer ${client}` }),
        "a key that is no key": send("{}", { ...json, authorization: "Bearer caas-not-a-key-0123456789abcdef", "x-api-key": "nope" }),
        "a key without the scope": send("{}", { ...json, authorization: `Bearer ${encryptOnly}` }),
        "a target Bun rewrote (dot segments)": rawWay((path) => `/x/..${path}`, 400),
        "a fragment": rawWay((path) => `${path}#part`, 400),
      };
      const asked: (Answered & { operation: string })[] = [];
      // A GET takes no body, so the body's refusals are asked of the POST routes only.
      const bodyWays = new Set(["invalid JSON", "a media type not taken", "a body too large"]);
      for (const route of AUDITED) {
        for (const [kind, way] of Object.entries(ways))
          if (route.method === "POST" || !bodyWays.has(kind))
            asked.push({ ...(await way(caas, route, nextId(kind))), operation: route.operation });
      }
      // The refusals each kind stands for did happen (on every route for the pre-routing ones).
      const statuses = new Set(asked.map((answer) => `${answer.status} ${answer.code}`));
      for (const expected of [
        "400 invalid_json",
        "413 body_too_large",
        "415 unsupported_media_type",
        "401 unauthorized",
        "403 forbidden",
        "400 invalid_target",
      ])
        expect(statuses).toContain(expected);
      expectOneLineEach(linesOf(auditFile), asked);
    } finally {
      await caas.stop();
    }
  });

  it("refused by the rate limit (429) before routing: one line each, naming the key", async () => {
    const { env, client } = keyringEnv();
    const auditFile = join(scratch(), "audit.log");
    const caas = await startCaas({ env: { ...env, CAAS_AUDIT_LOG: auditFile, CAAS_RATE_LIMIT: "1" } });
    try {
      const asked: (Answered & { operation: string })[] = [];
      const way = send("{}", { "content-type": "application/json", authorization: `Bearer ${client}` });
      for (const route of AUDITED)
        for (let i = 0; i < 3; i++) asked.push({ ...(await way(caas, route, nextId("limited"))), operation: route.operation });
      const limited = asked.filter((answer) => answer.status === 429);
      expect(new Set(limited.map((answer) => answer.operation)).size).toBe(AUDITED.length);
      const trail = linesOf(auditFile);
      expectOneLineEach(trail, asked);
      for (const line of trail.filter((entry) => entry.status === 429))
        expect(line).toMatchObject({ code: "rate_limited", apiKeyName: "client" });
    } finally {
      await caas.stop();
    }
  });

  it("refused as busy (503) while held bodies fill the budget: one line each", async () => {
    const auditFile = join(scratch(), "audit.log");
    const caas = await startCaas({ env: { CAAS_AUDIT_LOG: auditFile, CAAS_MAX_BODY: "1024", CAAS_MAX_BODY_IN_FLIGHT: "1024" } });
    // A body that never ends holds the whole budget.
    const held = connect({ host: "127.0.0.1", port: caas.port, rejectUnauthorized: false }, () =>
      held.write("POST /oracleinvocation HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n{"),
    );
    held.on("error", () => undefined);
    try {
      await Bun.sleep(300);
      const asked: (Answered & { operation: string })[] = [];
      const way = send('{"data":"x"}', { "content-type": "application/json" });
      for (const route of AUDITED) asked.push({ ...(await way(caas, route, nextId("busy"))), operation: route.operation });
      expect(asked.filter((answer) => answer.code === "busy").length).toBeGreaterThan(0);
      expectOneLineEach(linesOf(auditFile), asked);
    } finally {
      held.destroy();
      await caas.stop();
    }
  });
});

describe("an audit file deleted while caas runs", () => {
  it("is re-created at its path (0600) and every later line goes there, never to the deleted file; /readyz stays 200", async () => {
    const { env, client } = keyringEnv();
    const auditFile = join(scratch(), "audit.log");
    const caas = await startCaas({ env: { ...env, CAAS_AUDIT_LOG: auditFile } });
    try {
      const encrypt = () => caas.post("/keyring/orders/encrypt", { data: "x" }, { authorization: `Bearer ${client}` });
      expect((await encrypt()).status).toBe(200);
      rmSync(auditFile);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const answer = await encrypt();
        expect(answer.status).toBe(200);
        ids.push(answer.headers.get("x-request-id") ?? "");
      }
      expect(statSync(auditFile).mode & 0o777).toBe(0o600);
      const lines = linesOf(auditFile);
      expect(lines.map((line) => line.operation)).toEqual(["audit.recreated", ...ids.map(() => "keyring.encrypt")]);
      expect(lines.slice(1).map((line) => line.requestId)).toEqual(ids);
      expect((await caas.request("/readyz")).status).toBe(200);
      expect(caas.output()).toContain('"event":"audit_recreated"');
    } finally {
      await caas.stop();
    }
  });
});

/** A tmpfs of `bytes` at a fresh directory (root only), or undefined where one cannot be mounted. */
function smallDisk(bytes: number): string | undefined {
  const directory = scratch();
  const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", directory], { stderr: "pipe" });
  if (mounted.exitCode !== 0) return undefined;
  mounts.push(directory);
  return directory;
}

describe("a disk that fills up in the middle of a group write (a 16 KiB tmpfs, 16 clients)", () => {
  const disk = smallDisk(16 * 1024);

  it.skipIf(disk === undefined)("answers each request as its line says, and leaves no torn line", async () => {
    const auditFile = join(disk ?? "", "audit.log");
    const caas = await startCaas({ env: { CAAS_AUDIT_LOG: auditFile } });
    try {
      const answers: Answered[] = [];
      let client = 0;
      for (let round = 0; round < 20; round++) {
        const wave = await Promise.all(
          Array.from({ length: 16 }, async () => {
            const id = `disk-${client++}`;
            return answered(id, await caas.post("/oracleinvocation", { data: "x" }, { "x-request-id": id }));
          }),
        );
        answers.push(...wave);
      }
      const text = readFileSync(auditFile, "utf8");
      expect(text.endsWith("\n")).toBe(true);
      const lines = linesIn(text);
      const lineCount = new Map<unknown, number>();
      for (const line of lines) lineCount.set(line.clientRequestId, (lineCount.get(line.clientRequestId) ?? 0) + 1);
      const ok = answers.filter((answer) => answer.status === 200);
      const refused = answers.filter((answer) => answer.status === 503);
      console.log(
        `full disk: ${answers.length} requests, ${ok.length} answered 200 with ${ok.reduce((n, a) => n + (lineCount.get(a.id) ?? 0), 0)} lines, ${refused.length} answered 503 with ${refused.reduce((n, a) => n + (lineCount.get(a.id) ?? 0), 0)} lines`,
      );
      expect(refused.length).toBeGreaterThan(0);
      expect(ok.length + refused.length).toBe(answers.length);
      expect(ok.filter((answer) => lineCount.get(answer.id) !== 1)).toEqual([]);
      expect(refused.filter((answer) => lineCount.has(answer.id))).toEqual([]);
    } finally {
      await caas.stop();
    }
  });
});

/** A port nothing listens on now. */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/**
 * caas serve with CAAS_AUDIT_LOG=- and its standard output read by `sh -c 'sleep S; cat > out'`,
 * as `caas serve | (sleep S; cat)` does: the reader stalls for S seconds, then reads everything.
 */
async function serveIntoStalledReader(stallSeconds: number, env: Record<string, string> = {}) {
  const dir = scratch();
  const pki = makeTestPki();
  const out = join(dir, "stdout");
  const pidFile = join(dir, "pid");
  const port = freePort();
  const opsPort = freePort();
  const readerPidFile = join(dir, "reader-pid");
  const shell = Bun.spawn(
    [
      "sh",
      "-c",
      `sh -c 'echo $$ > "$PIDFILE"; exec "$BINARY" serve' | sh -c 'echo $$ > "$READERPID"; sleep ${stallSeconds}; exec cat > "$OUT"'`,
    ],
    {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: dir,
        BINARY,
        PIDFILE: pidFile,
        READERPID: readerPidFile,
        OUT: out,
        CAAS_PORT: String(port),
        CAAS_OPS_LISTEN: `127.0.0.1:${opsPort}`,
        CAAS_STATE_DIR: join(dir, "state"),
        CAAS_TLS_CERT: pki.serverCert,
        CAAS_TLS_KEY: pki.serverKey,
        CAAS_AUDIT_LOG: "-",
        ...env,
      },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    },
  );
  const url = `https://127.0.0.1:${port}`;
  const request = (path: string, init: RequestInit = {}) => fetch(`${url}${path}`, { ...init, tls: { ca: pki.caCertPem } } as RequestInit);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await request("/healthz").then(
      (answer) => answer.status === 200,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`caas did not start: ${await new Response(shell.stderr).text()}`);
    await Bun.sleep(50);
  }
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  /** Ends both processes, whatever state the test left them in. */
  const end = () => {
    for (const stray of [pid, Number(readFileSync(readerPidFile, "utf8").trim())]) {
      try {
        process.kill(stray, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  };
  return { shell, out, pid, alive, request, end };
}

describe("an audit trail on a standard output whose reader stalls", () => {
  it("never blocks the event loop: probes answer at once, audited requests wait or are refused, and each answer agrees with its line", async () => {
    const stall = 8;
    const caas = await serveIntoStalledReader(stall);
    try {
      const started = performance.now();
      const answers: Answered[] = [];
      const probeMs: number[] = [];
      let sent = 0;
      const stopAt = started + (stall - 3) * 1000;
      const client = async () => {
        while (performance.now() < stopAt) {
          const id = `stalled-${sent++}`;
          const answer = await caas.request("/oracleinvocation", {
            method: "POST",
            headers: { "content-type": "application/json", "x-request-id": id },
            body: '{"data":"x"}',
          });
          answers.push(await answered(id, answer));
        }
      };
      // Probes until just before the reader wakes up: /healthz always 200 at once, /readyz 503 once lines were refused.
      const readiness = new Set<number>();
      const probe = async () => {
        while (performance.now() < started + (stall - 0.5) * 1000) {
          const asked = performance.now();
          expect((await caas.request("/healthz")).status).toBe(200);
          probeMs.push(performance.now() - asked);
          readiness.add((await caas.request("/readyz")).status);
          await Bun.sleep(50);
        }
      };
      // More clients than one write to standard output holds lines (StdoutAppender.chunkBytes), so some lines wait behind it.
      await Promise.all([...Array.from({ length: 64 }, client), probe()]);
      probeMs.sort((a, b) => a - b);
      const median = probeMs[Math.floor(probeMs.length / 2)] ?? 0;
      const p90 = probeMs[Math.floor(probeMs.length * 0.9)] ?? 0;
      // The reader catches up; one more request after it carries the trail's account of the gap.
      while (performance.now() < started + (stall + 1) * 1000) await Bun.sleep(100);
      const after = await answered(
        "after",
        await caas.request("/oracleinvocation", {
          method: "POST",
          headers: { "content-type": "application/json", "x-request-id": "after" },
          body: '{"data":"x"}',
        }),
      );
      expect(after.status).toBe(200);
      process.kill(caas.pid, "SIGTERM");
      expect(await caas.shell.exited).toBe(0);
      const trail = linesIn(readFileSync(caas.out, "utf8")).filter((line) => typeof line.operation === "string");
      const lineCount = new Map<unknown, number>();
      for (const line of trail) lineCount.set(line.clientRequestId, (lineCount.get(line.clientRequestId) ?? 0) + 1);
      const ok = answers.filter((answer) => answer.status === 200);
      const refused = answers.filter((answer) => answer.status === 503);
      const resumed = trail.find((line) => line.operation === "audit.resumed");
      console.log(
        `stalled stdout: ${answers.length} requests in ${stall - 3} s, ${ok.length} answered 200 with ${ok.reduce((n, a) => n + (lineCount.get(a.id) ?? 0), 0)} lines, ${refused.length} answered 503 with ${refused.reduce((n, a) => n + (lineCount.get(a.id) ?? 0), 0)} lines; /healthz median ${median.toFixed(1)} ms, p90 ${p90.toFixed(1)} ms over ${probeMs.length} probes; /readyz ${[...readiness].join(" and ")}; audit.resumed refused ${String(resumed?.refused)}`,
      );
      expect(ok.length + refused.length).toBe(answers.length);
      expect(refused.length).toBeGreaterThan(0);
      expect(ok.filter((answer) => lineCount.get(answer.id) !== 1)).toEqual([]);
      expect(refused.filter((answer) => lineCount.has(answer.id))).toEqual([]);
      expect(resumed?.refused).toBe(refused.length);
      expect(readiness).toContain(503);
      expect(median).toBeLessThan(50);
      expect(p90).toBeLessThan(100);
    } finally {
      caas.end();
    }
  }, 30_000);

  it("drops log lines past a bounded backlog instead of holding them, and says how many once the reader is back", async () => {
    const stall = 6;
    // At debug every request has an access log line: /healthz, never audited, makes them fast.
    const caas = await serveIntoStalledReader(stall, { CAAS_LOG_LEVEL: "debug" });
    try {
      const started = performance.now();
      let sent = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (sent < 12_000 && performance.now() < started + (stall - 2) * 1000) {
            sent += 1;
            expect((await caas.request("/healthz")).status).toBe(200);
          }
        }),
      );
      const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${caas.pid}/status`, "utf8"))?.[1]);
      while (performance.now() < started + (stall + 1) * 1000) await Bun.sleep(100);
      // A line logged once the backlog is written carries the count of those dropped.
      expect((await caas.request("/healthz")).status).toBe(200);
      await Bun.sleep(300);
      process.kill(caas.pid, "SIGTERM");
      expect(await caas.shell.exited).toBe(0);
      const dropped = linesIn(readFileSync(caas.out, "utf8")).find((line) => line.event === "log_lines_dropped");
      console.log(
        `stalled stdout: ${sent} /healthz at debug, RSS ${Math.round(rssKiB / 1024)} MiB, ${String(dropped?.lines)} log lines dropped`,
      );
      expect(dropped).toMatchObject({ level: "warn", lines: expect.any(Number) });
    } finally {
      caas.end();
    }
  }, 30_000);

  it("stops on SIGTERM within its drain timeout while the reader still sleeps", async () => {
    const caas = await serveIntoStalledReader(30, { CAAS_DRAIN_TIMEOUT: "2" });
    try {
      // Enough lines to fill the pipe, so a write is under way, and requests wait on it, when the signal comes.
      for (let n = 0; n < 400; n++) {
        void caas
          .request("/oracleinvocation", { method: "POST", headers: { "content-type": "application/json" }, body: '{"data":"x"}' })
          .catch(() => undefined);
      }
      await Bun.sleep(1_500);
      const signalled = performance.now();
      process.kill(caas.pid, "SIGTERM");
      while (caas.alive() && performance.now() - signalled < 15_000) await Bun.sleep(50);
      const seconds = (performance.now() - signalled) / 1000;
      console.log(`stalled stdout: SIGTERM to exit ${seconds.toFixed(2)} s`);
      expect(caas.alive()).toBe(false);
      expect(seconds).toBeLessThan(5);
    } finally {
      caas.end();
    }
  }, 30_000);
});
