/**
 * CAAS_MAX_BODY_IN_FLIGHT against dist/caas over TLS: connections that hold unfinished bodies
 * open fill the budget, and then a new body is 503 busy in JSON with Retry-After, unread, while
 * /healthz and /readyz keep answering; once the bodies end (the client closes, or the idle
 * timeout cuts them off) their bytes are back and bodies are read again. /metrics counts it all.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { connect, type TLSSocket } from "node:tls";
import { IDLE_TIMEOUT_SECONDS } from "../../src/server/bind.ts";
import { startCaas, type RunningCaas } from "./harness.ts";
import { README_USER } from "../../support/constants.ts";

const MAX_BODY = 64 * 1024;
const BODIES_IN_BUDGET = 4;
const BUDGET = BODIES_IN_BUDGET * MAX_BODY;

let caas: RunningCaas;
/** Every connection a test opened, closed after the last test even if one failed before closing its own. */
const opened: TLSSocket[] = [];
beforeAll(async () => {
  caas = await startCaas({ env: { CAAS_MAX_BODY: String(MAX_BODY), CAAS_MAX_BODY_IN_FLIGHT: String(BUDGET) } });
});
afterAll(async () => {
  for (const socket of opened) socket.destroy();
  await caas.stop();
});

interface HeldBody {
  readonly socket: TLSSocket;
  /** Resolves when the server closes the connection. */
  readonly closedByServer: Promise<void>;
}

/** Opens a connection and starts a POST whose body it never finishes: `sent` bytes of it, declared whole or chunked. */
async function holdBody(framing: "declared" | "chunked", sent: number): Promise<HeldBody> {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const opened = connect({ host: "127.0.0.1", port: caas.port, rejectUnauthorized: false }, () => resolve(opened));
    opened.once("error", reject);
  });
  socket.on("error", () => undefined);
  opened.push(socket);
  const closedByServer = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const part = `{"data":"${"x".repeat(sent - 9)}`;
  const head =
    framing === "declared"
      ? `POST /oracleinvocation HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${MAX_BODY}\r\n\r\n${part}`
      : `POST /oracleinvocation HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${part.length.toString(16)}\r\n${part}\r\n`;
  await new Promise<void>((resolve) => socket.write(head, () => resolve()));
  return { socket, closedByServer };
}

async function metric(name: string): Promise<number> {
  const text = await (await caas.ops("/metrics")).text();
  const value = new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1];
  if (value === undefined) throw new Error(`/metrics has no ${name}`);
  return Number(value);
}

/** Polls /metrics until the bytes held are `bytes`: the server reserves a body when it sees it, not when we sent it. */
async function bytesHeldReach(bytes: number, withinMs = 5_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  let held = await metric("caas_body_bytes_in_flight");
  while (held !== bytes) {
    if (Date.now() > deadline) throw new Error(`caas_body_bytes_in_flight stayed ${held}, not ${bytes}`);
    await Bun.sleep(25);
    held = await metric("caas_body_bytes_in_flight");
  }
}

const small = { data: "x" };

async function expectBusy(answer: Response): Promise<void> {
  expect(answer.status).toBe(503);
  expect(answer.headers.get("retry-after")).toBe("1");
  expect(answer.headers.get("content-type")).toBe("application/json");
  expect(await answer.json()).toEqual({ error: { code: "busy", message: expect.any(String) } });
}

describe("the body budget", () => {
  it("refuses a new body with 503 busy and Retry-After once held bodies fill it, keeps /healthz and /readyz answering, and reads bodies again once they close", async () => {
    const refusedBefore = await metric("caas_body_budget_refused_total");
    const held = await Promise.all(Array.from({ length: BODIES_IN_BUDGET }, () => holdBody("declared", MAX_BODY - 100)));
    await bytesHeldReach(BUDGET);

    expect((await caas.request("/healthz")).status).toBe(200);
    expect((await caas.request("/readyz")).status).toBe(200);
    await expectBusy(await caas.post("/oracleinvocation", small));
    await expectBusy(await caas.post("/encrypt", { userUUID: README_USER, sensitiveData: "x" }));
    expect(await metric("caas_body_budget_refused_total")).toBe(refusedBefore + 2);

    for (const body of held) body.socket.destroy();
    await bytesHeldReach(0);
    expect((await caas.post("/oracleinvocation", small)).status).toBe(200);
  });

  it("reserves a chunked body as its chunks arrive: a small body still fits beside held ones, a larger chunked one is 503 busy", async () => {
    const heldBytes = MAX_BODY - 1_000;
    const held = await Promise.all(Array.from({ length: BODIES_IN_BUDGET }, () => holdBody("chunked", heldBytes)));
    await bytesHeldReach(BODIES_IN_BUDGET * heldBytes);

    expect((await caas.post("/oracleinvocation", small)).status).toBe(200);
    const chunkedBody = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(JSON.stringify({ data: "y".repeat(BODIES_IN_BUDGET * 1_000 + 1) })));
        controller.close();
      },
    });
    await expectBusy(
      await caas.request("/oracleinvocation", { method: "POST", headers: { "content-type": "application/json" }, body: chunkedBody }),
    );
    expect((await caas.request("/healthz")).status).toBe(200);

    for (const body of held) body.socket.destroy();
    await bytesHeldReach(0);
  });

  it("gives back every byte of bodies that were answered, refused or malformed", async () => {
    const answers = await Promise.all([
      caas.post("/oracleinvocation", small),
      caas.post("/oracleinvocation", "{not json"),
      caas.post("/oracleinvocation", `"${"x".repeat(MAX_BODY)}"`),
      caas.post("/oracleinvocation", ""),
      caas.post("/encrypt", { userUUID: "u", sensitiveData: "no key" }),
      caas.post("/verify", { apiKey: "wrong", userUUID: "u", sensitiveData: "d", encrypted_data: "00" }),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 400, 413, 400, 401, 401]);
    await bytesHeldReach(0);
  });

  it(
    "gets the bytes of bodies left hanging back when the idle timeout cuts them off",
    async () => {
      const held = await Promise.all(
        Array.from({ length: BODIES_IN_BUDGET }, (_, i) => holdBody(i % 2 === 0 ? "declared" : "chunked", MAX_BODY - 100)),
      );
      await bytesHeldReach(BODIES_IN_BUDGET * MAX_BODY - 2 * 100);
      await Promise.all(held.map((body) => body.closedByServer));
      await bytesHeldReach(0);
      expect((await caas.post("/oracleinvocation", small)).status).toBe(200);
    },
    (IDLE_TIMEOUT_SECONDS + 15) * 1000,
  );

  it("logged no internal error", () => {
    expect(caas.output()).not.toContain("internal_error");
  });
});
