/**
 * CAAS_RATE_LIMIT against dist/caas: a burst of `rate` goes through, the rest are 429
 * `rate_limited` in JSON with Retry-After, /metrics counts them, a valid API key is its own
 * client, and an invalid one is no way around the address's limit. Probes (every GET route the
 * app tags operations) are never limited nor counted: behind a load balancer every client
 * shares one address, and a refused health check takes the instance out of rotation.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { addApiKey, startCaas, tempDir, type RunningCaas } from "./harness.ts";
import { testApp } from "../unit/helpers.ts";
import { OPERATIONS_TAG } from "../../src/modules/ops/index.ts";
import { README_USER } from "../../support/constants.ts";

const RATE = 5;
let caas: RunningCaas;
let key: string;

beforeAll(async () => {
  const files = tempDir("caas-rate-");
  const keysFile = join(files, "keys.json");
  key = addApiKey("rate-test", keysFile);
  caas = await startCaas({ env: { CAAS_RATE_LIMIT: String(RATE), CAAS_API_KEYS_FILE: keysFile } });
});
afterAll(async () => {
  await caas.stop();
});

/** Waits until every bucket has refilled (burst = rate, refilled in one second). */
const refill = () => Bun.sleep(1_100);

/** A cheap request that is not a probe: the docs' OpenAPI document. */
const LIMITED = "/swagger/json";

async function burst(count: number, headers: Record<string, string> = {}): Promise<Response[]> {
  return Promise.all(Array.from({ length: count }, () => caas.request(LIMITED, { headers })));
}

/** The GET routes the app declares outside its docs page: the probes, read from the app itself so a new one is walked too. */
function operationsGetRoutes(): string[] {
  const app = testApp();
  // The operations tag, not every GET: GET /keyring/{name}/public-key is an API route and is limited like one.
  return app.routes
    .filter((route) => route.method === "GET" && route.hooks.detail?.tags?.includes(OPERATIONS_TAG) === true)
    .map((route) => route.path);
}

describe("rate limit per client", () => {
  it("lets a burst of CAAS_RATE_LIMIT through, then answers 429 rate_limited with Retry-After", async () => {
    await refill();
    const answers = await burst(RATE * 4);
    const statuses = answers.map((answer) => answer.status);
    // Requests that arrive while the bucket refills may pass too, so at least the burst passes.
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(RATE);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
    for (const answer of refused) {
      expect(Number(answer.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(answer.headers.get("content-type")).toBe("application/json");
      expect(answer.headers.get("strict-transport-security")).not.toBeNull();
      expect(answer.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(await answer.json()).toEqual({ error: { code: "rate_limited", message: expect.any(String) } });
    }
  });

  it("lets the client in again after Retry-After", async () => {
    await burst(RATE * 2);
    await refill();
    expect((await caas.request(LIMITED)).status).toBe(200);
  });

  it("counts the refused requests in /metrics as caas_rate_limited_total", async () => {
    await refill();
    const metrics = await (await caas.ops("/metrics")).text();
    const total = /^caas_rate_limited_total (\d+)$/m.exec(metrics);
    expect(Number(total?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/caas_requests_total\{[^}]*route="\/swagger\/json",status="429"\} [1-9]/);
  });

  it("gives a valid API key its own bucket, apart from its address", async () => {
    await refill();
    await burst(RATE * 2);
    expect((await caas.request(LIMITED)).status).toBe(429);
    const withKey = await burst(RATE, { "x-api-key": key });
    expect(withKey.map((answer) => answer.status)).toEqual(Array(RATE).fill(200));
    const bearer = await caas.request(LIMITED, { headers: { authorization: `Bearer ${key}` } });
    expect(bearer.status).toBe(429); // the same key, in the other header: the same bucket
  });

  it("puts an invalid key on the address's bucket: invented keys buy no fresh buckets", async () => {
    await refill();
    const answers = await Promise.all(
      Array.from({ length: RATE * 3 }, (_, i) => caas.request(LIMITED, { headers: { "x-api-key": `caas_guess_${i}` } })),
    );
    expect(answers.filter((answer) => answer.status === 429).length).toBeGreaterThan(0);
  });

  it("charges a key sent only in the JSON body to that key, not to the address", async () => {
    await refill();
    const body = { apiKey: key, userUUID: README_USER, sensitiveData: "x" };
    const statuses: number[] = [];
    for (let i = 0; i < RATE * 2; i++) statuses.push((await caas.post("/encrypt", body)).status);
    expect(statuses.slice(0, RATE)).toEqual(Array(RATE).fill(200));
    expect(statuses.slice(RATE)).toContain(429);
    // The address's own bucket was refunded for every body-key request, so it is still full.
    const fromAddress = await burst(RATE);
    expect(fromAddress.map((answer) => answer.status)).toEqual(Array(RATE).fill(200));
  });

  it("never limits a probe, nor counts it against its client: every GET route of the app's operations", async () => {
    const probes = operationsGetRoutes();
    expect(probes).toEqual(expect.arrayContaining(["/healthz", "/readyz"]));
    await refill();
    for (const path of probes) {
      for (const spelling of [path, `${path}/`]) {
        const answers = await Promise.all(Array.from({ length: RATE * 3 }, () => caas.request(spelling)));
        expect({ spelling, statuses: [...new Set(answers.map((answer) => answer.status))] }).toEqual({ spelling, statuses: [200] });
        await Promise.all(answers.map((answer) => answer.arrayBuffer()));
      }
    }
    // Not one probe was charged: the address still has its whole burst.
    const afterProbes = await burst(RATE);
    expect(afterProbes.map((answer) => answer.status)).toEqual(Array(RATE).fill(200));
  });

  it("answers probes while the address is over its limit", async () => {
    await refill();
    await burst(RATE * 2);
    expect((await caas.request(LIMITED)).status).toBe(429);
    for (const path of operationsGetRoutes()) expect({ path, status: (await caas.request(path)).status }).toEqual({ path, status: 200 });
  });

  it("limits every route, unknown ones included, before any work is done", async () => {
    await refill();
    await burst(RATE * 2);
    for (const [path, init] of [
      ["/oracleinvocation", { method: "POST", headers: { "content-type": "application/json" }, body: '{"data":"x"}' }],
      ["/no/such/route", {}],
      ["/healthz", { method: "DELETE" }],
    ] as const) {
      const answer = await caas.request(path, init as RequestInit);
      expect({ path, status: answer.status }).toEqual({ path, status: 429 });
    }
  });
});

describe("CAAS_RATE_LIMIT=0", () => {
  it("limits nothing", async () => {
    const open = await startCaas();
    try {
      const answers = await Promise.all(Array.from({ length: 200 }, () => open.request(LIMITED)));
      expect(answers.every((answer) => answer.status === 200)).toBe(true);
    } finally {
      await open.stop();
    }
  });
});
