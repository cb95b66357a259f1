/**
 * Every size and time limit of dist/caas, tried over raw TLS sockets so that nothing in a client
 * library tidies the request up: header size and count, URL length, JSON nesting depth, and
 * slow clients (slowloris headers, a trickled body, an idle keep-alive connection). Each is
 * answered or closed cleanly, never left hanging, and the server keeps serving others.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { connect, type TLSSocket } from "node:tls";
import { IDLE_TIMEOUT_SECONDS } from "../../src/server/bind.ts";
import { startCaas, type RunningCaas } from "./harness.ts";

let caas: RunningCaas;
beforeAll(async () => {
  caas = await startCaas();
});
afterAll(async () => {
  await caas.stop();
});

interface Exchange {
  /** What the server sent before closing (or before we gave up). */
  readonly answer: string;
  readonly closedByServer: boolean;
  readonly ms: number;
}

function open(): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: caas.port, rejectUnauthorized: false }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * Sends `chunks` one by one, `intervalMs` apart, and collects the answer until the server closes
 * the connection, it has answered and `stopOnAnswer` is set, or `giveUpMs` passes.
 */
async function exchange(
  chunks: readonly string[],
  options: { intervalMs?: number; giveUpMs?: number; stopOnAnswer?: boolean } = {},
): Promise<Exchange> {
  const { intervalMs = 0, giveUpMs = 10_000, stopOnAnswer = false } = options;
  const started = performance.now();
  const socket = await open();
  let answer = "";
  let closedByServer = false;
  const done = new Promise<void>((resolve) => {
    socket.on("data", (data: Buffer) => {
      answer += data.toString("latin1");
      if (stopOnAnswer && /\r\n\r\n/.test(answer)) resolve();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      closedByServer = true;
      resolve();
    });
    setTimeout(resolve, giveUpMs);
  });
  void (async () => {
    for (const chunk of chunks) {
      if (closedByServer || socket.destroyed) break;
      socket.write(chunk);
      if (intervalMs > 0) await Bun.sleep(intervalMs);
    }
  })();
  await done;
  const ms = performance.now() - started;
  socket.destroy();
  return { answer, closedByServer, ms };
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
const bodyOf = (answer: string) => answer.slice(answer.indexOf("\r\n\r\n") + 4);
const get = (target: string, headers = "") => `GET ${target} HTTP/1.1\r\nHost: localhost\r\n${headers}Connection: close\r\n\r\n`;

async function stillServing(): Promise<void> {
  const answer = await caas.request("/healthz");
  expect(answer.status).toBe(200);
}

describe("header and URL limits (Bun's: 16 KiB of request head, about 100 header fields)", () => {
  it("answers a request head just under the limit normally", async () => {
    const reply = await exchange([get("/healthz", `X-Padding: ${"a".repeat(15_000)}\r\n`)]);
    expect(statusOf(reply.answer)).toBe(200);
  });

  for (const [name, request] of [
    ["a 20 KB header", get("/healthz", `X-Padding: ${"a".repeat(20_000)}\r\n`)],
    ["a 1 MB header", get("/healthz", `X-Padding: ${"a".repeat(1_000_000)}\r\n`)],
    ["300 header fields", get("/healthz", Array.from({ length: 300 }, (_, i) => `X-Field-${i}: v\r\n`).join(""))],
    ["a 20 KB URL", get(`/healthz?${"q".repeat(20_000)}`)],
    ["a 1 MB URL", get(`/${"p".repeat(1_000_000)}`)],
  ] as const) {
    it(`answers ${name} with 431 and closes, at once`, async () => {
      const reply = await exchange([request]);
      expect(statusOf(reply.answer)).toBe(431);
      expect(reply.closedByServer).toBe(true);
      expect(reply.ms).toBeLessThan(2_000);
    });
  }

  it("answers an 8 KB URL of an unknown path with a JSON 404", async () => {
    const reply = await exchange([get(`/${"p".repeat(8_000)}`)]);
    expect(statusOf(reply.answer)).toBe(404);
    expect(JSON.parse(bodyOf(reply.answer))).toEqual({ error: { code: "not_found", message: expect.any(String) } });
  });

  it("is still serving", stillServing);
});

describe("JSON nesting depth", () => {
  const post = (body: string) => caas.post("/oracleinvocation", body);

  it("answers a 1 MiB body of '[' with 400 invalid_json, quickly", async () => {
    const started = performance.now();
    const answer = await post("[".repeat(1024 * 1024 - 16));
    expect(answer.status).toBe(400);
    expect(await answer.json()).toEqual({ error: { code: "invalid_json", message: expect.any(String) } });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("answers deep but small bodies (which cost the validator seconds, or its stack) with 400 invalid_json", async () => {
    for (const body of [
      "[".repeat(10_000) + "]".repeat(10_000),
      `{"data":${"[".repeat(5_000)}${"]".repeat(5_000)}}`,
      `{"data":"x","aad":${'{"a":'.repeat(100)}1${"}".repeat(101)}`,
    ]) {
      for (const path of ["/oracleinvocation", "/oracleinvocation/decrypt", "/encrypt", "/verify"]) {
        const started = performance.now();
        const answer = await caas.post(path, body);
        expect({ path, status: answer.status, code: ((await answer.json()) as { error: { code: string } }).error.code }).toEqual({
          path,
          status: 400,
          code: "invalid_json",
        });
        expect(performance.now() - started).toBeLessThan(500);
      }
    }
  });

  it("is still serving, with no internal error logged", async () => {
    await stillServing();
    expect(caas.output()).not.toContain("internal_error");
  });
});

describe(`slow clients (idleTimeout ${IDLE_TIMEOUT_SECONDS} s)`, () => {
  // Bun checks timeouts on a 4-second tick, so a connection is cut between the timeout and 4 s after it.
  const cutOffMs = (IDLE_TIMEOUT_SECONDS + 5) * 1000;

  it(
    "cuts off slowloris headers, a trickled body and an idle keep-alive connection, and serves others meanwhile",
    async () => {
      const slowHeaders = get("/healthz", `X-Slow: ${"s".repeat(200)}\r\n`).split("");
      const body = JSON.stringify({ data: "d".repeat(500) });
      const trickledBody = [
        `POST /oracleinvocation HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
        ...body.split(""),
      ];
      const keepAlive = ["GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"];
      // Many slow connections at once: a slowloris attack is about numbers.
      const crowd = Array.from({ length: 100 }, () => exchange(slowHeaders, { intervalMs: 250, giveUpMs: cutOffMs + 10_000 }));
      const [headers, trickle, idle] = await Promise.all([
        exchange(slowHeaders, { intervalMs: 250, giveUpMs: cutOffMs + 10_000 }),
        exchange(trickledBody, { intervalMs: 50, giveUpMs: cutOffMs + 10_000 }),
        exchange(keepAlive, { giveUpMs: cutOffMs + 10_000 }),
        (async () => {
          // Served normally while the slow connections hang on.
          for (let i = 0; i < 5; i++) {
            await Bun.sleep(1_000);
            await stillServing();
          }
        })(),
      ]);
      const crowdReplies = await Promise.all(crowd);

      for (const [name, reply] of [
        ["slowloris headers", headers],
        ["trickled body", trickle],
        ["idle keep-alive", idle],
      ] as const) {
        expect({ name, closedByServer: reply.closedByServer }).toEqual({ name, closedByServer: true });
        expect(reply.ms).toBeLessThan(cutOffMs);
        expect(reply.ms).toBeGreaterThan((IDLE_TIMEOUT_SECONDS - 1) * 1000);
      }
      // The slow ones get no answer at all (Bun closes without one); the idle one got its answer first.
      expect(headers.answer).toBe("");
      expect(trickle.answer).toBe("");
      expect(statusOf(idle.answer)).toBe(200);
      expect(crowdReplies.every((reply) => reply.closedByServer && reply.ms < cutOffMs)).toBe(true);
      await stillServing();
    },
    (IDLE_TIMEOUT_SECONDS + 30) * 1000,
  );

  it("logs nothing about the cut-off requests but their absence: no internal error", () => {
    expect(caas.output()).not.toContain("internal_error");
  });
});
