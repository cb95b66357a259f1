import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { Elysia } from "elysia";
import { addressClient, Admissions, apiKeyClient, RateLimiter, rateLimitGate } from "../../src/http/rate-limit.ts";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { answerFor } from "../../src/http/error-answers.ts";
import type { RateLimited } from "../../src/errors.ts";

function clock(start = 1_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("RateLimiter", () => {
  it("lets a burst of `rate` requests through at once, then refuses with a Retry-After of at least 1 s", () => {
    const time = clock();
    const limiter = new RateLimiter({ rate: 5, now: time.now });
    for (let i = 0; i < 5; i++) expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(1);
    expect(limiter.take("a")).toBe(1);
  });

  it("refills at `rate` tokens per second, never past the burst", () => {
    const time = clock();
    const limiter = new RateLimiter({ rate: 10, now: time.now });
    for (let i = 0; i < 10; i++) limiter.take("a");
    expect(limiter.take("a")).toBeGreaterThan(0);
    time.advance(100); // one token
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBeGreaterThan(0);
    time.advance(60_000); // a minute idle refills to the burst, not to 600
    let allowed = 0;
    while (limiter.take("a") === 0) allowed++;
    expect(allowed).toBe(10);
  });

  it("answers a Retry-After long enough for one token at a slow rate", () => {
    const time = clock();
    const limiter = new RateLimiter({ rate: 0.25, now: time.now });
    // The burst is at least one request, or a rate below 1/s would let nothing through.
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(4);
    time.advance(3_000);
    expect(limiter.take("a")).toBe(1);
    time.advance(1_000);
    expect(limiter.take("a")).toBe(0);
  });

  it("keeps clients apart: one client's flood does not limit another", () => {
    const limiter = new RateLimiter({ rate: 2, now: clock().now });
    for (let i = 0; i < 10; i++) limiter.take("flooder");
    expect(limiter.take("flooder")).toBeGreaterThan(0);
    expect(limiter.take("quiet")).toBe(0);
  });

  it("is off at rate 0: everything passes and nothing is stored", () => {
    const limiter = new RateLimiter({ rate: 0 });
    for (let i = 0; i < 1000; i++) expect(limiter.take(`c${i}`)).toBe(0);
    expect(limiter.enabled).toBe(false);
    expect(limiter.size).toBe(0);
  });

  it("never tracks more clients than its capacity, however many identities an attacker rotates through", () => {
    const limiter = new RateLimiter({ rate: 1, capacity: 100, now: clock().now });
    for (let i = 0; i < 100_000; i++) limiter.take(`ip:10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(limiter.size).toBe(100);
  });

  it("evicts the least recently seen client first, so an active client keeps its bucket", () => {
    const time = clock();
    const limiter = new RateLimiter({ rate: 1, capacity: 3, now: time.now });
    expect(limiter.take("active")).toBe(0);
    expect(limiter.take("active")).toBe(1); // empty now
    for (let i = 0; i < 50; i++) {
      limiter.take(`rotating-${i}`);
      // The active client keeps asking; its empty bucket must survive the churn.
      expect(limiter.take("active")).toBe(1);
    }
    expect(limiter.size).toBe(3);
  });

  it("holds every client to at most burst + rate × elapsed requests (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.record({ client: fc.integer({ min: 0, max: 3 }), waitMs: fc.integer({ min: 0, max: 300 }) }), { maxLength: 300 }),
        (rate, steps) => {
          const time = clock();
          const limiter = new RateLimiter({ rate, now: time.now });
          const allowed = new Map<number, number>();
          let elapsedMs = 0;
          for (const step of steps) {
            time.advance(step.waitMs);
            elapsedMs += step.waitMs;
            const retryAfter = limiter.take(`c${step.client}`);
            expect(retryAfter).toBeGreaterThanOrEqual(0);
            expect(Number.isInteger(retryAfter)).toBe(true);
            if (retryAfter === 0) allowed.set(step.client, (allowed.get(step.client) ?? 0) + 1);
          }
          for (const count of allowed.values()) expect(count).toBeLessThanOrEqual(rate + Math.floor((rate * elapsedMs) / 1000) + 1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("gives a refunded token back, never past the burst", () => {
    const limiter = new RateLimiter({ rate: 2, now: clock().now });
    limiter.take("a");
    limiter.take("a");
    limiter.refund("a");
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(1);
    for (let i = 0; i < 5; i++) limiter.refund("a");
    expect([limiter.take("a"), limiter.take("a"), limiter.take("a")]).toEqual([0, 0, 1]);
    limiter.refund("never-seen");
    expect(limiter.size).toBe(1);
  });

  it("refuses a negative or non-finite rate and a capacity below 1", () => {
    expect(() => new RateLimiter({ rate: -1 })).toThrow(RangeError);
    expect(() => new RateLimiter({ rate: Number.NaN })).toThrow(RangeError);
    expect(() => new RateLimiter({ rate: 1, capacity: 0 })).toThrow(RangeError);
  });

  it("charge() throws the 429 rate_limited error with Retry-After", () => {
    const limiter = new RateLimiter({ rate: 1, now: clock().now });
    limiter.charge("a");
    try {
      limiter.charge("a");
      throw new Error("not limited");
    } catch (error) {
      expect(error).toMatchObject({ code: "rate_limited", retryAfterSeconds: 1 });
      const answer = answerFor(error as RateLimited);
      expect([answer.status, answer.headers.get("retry-after")]).toEqual([429, "1"]);
    }
  });
});

describe("client identities", () => {
  it("names key clients by key name, never by the key", () => {
    expect(apiKeyClient("main-server")).toBe("key:main-server");
  });

  it("takes IPv4 addresses whole, and IPv4-mapped IPv6 as IPv4", () => {
    expect(addressClient("192.0.2.7")).toBe("ip:192.0.2.7");
    expect(addressClient("::ffff:192.0.2.7")).toBe("ip:192.0.2.7");
  });

  it("groups IPv6 addresses by /64, however they are written", () => {
    const a = addressClient("2001:db8:0:1::1");
    expect(a).toBe("ip6:2001:db8:0:1");
    expect(addressClient("2001:0db8:0000:0001:ffff:ffff:ffff:ffff")).toBe(a);
    expect(addressClient("2001:DB8:0:1:0:0:0:9%eth0")).toBe(a);
    expect(addressClient("2001:db8:0:2::1")).not.toBe(a);
    expect(addressClient("::1")).toBe("ip6:0:0:0:0");
    expect(addressClient("fe80::")).toBe("ip6:fe80:0:0:0");
  });
});

describe("rateLimitGate", () => {
  const server = (address: string) => ({ requestIP: () => ({ address, port: 1, family: "IPv4" as const }) });
  const store = ApiKeyStore.fromKeys([{ name: "main", key: "good-key-0123456789" }]);
  const options = { apiKeys: () => store };
  const gateOf = (limiter: RateLimiter) => {
    const admissions = new Admissions(limiter);
    return { admissions, gate: rateLimitGate(admissions, options)! };
  };

  it("is absent when the limit is 0", () => {
    expect(rateLimitGate(new Admissions(new RateLimiter({ rate: 0 })), options)).toBeUndefined();
  });

  it("answers 429 rate_limited in JSON with Retry-After once the client's bucket is empty", async () => {
    const { gate } = gateOf(new RateLimiter({ rate: 2, now: clock().now }));
    const request = () => new Request("https://caas/healthz");
    expect(gate(request(), server("192.0.2.1"))).toBeUndefined();
    expect(gate(request(), server("192.0.2.1"))).toBeUndefined();
    const refused = gate(request(), server("192.0.2.1"));
    expect(refused?.status).toBe(429);
    expect(refused?.headers.get("retry-after")).toBe("1");
    expect(refused?.headers.get("content-type")).toBe("application/json");
    expect(await refused?.json()).toEqual({ error: { code: "rate_limited", message: expect.any(String) } });
    expect(gate(request(), server("192.0.2.2"))).toBeUndefined();
  });

  it("limits a valid key by its name wherever it comes from, and an invalid key by address", () => {
    const { gate } = gateOf(new RateLimiter({ rate: 1, now: clock().now }));
    const withKey = (key: string) => new Request("https://caas/oracleinvocation", { headers: { "x-api-key": key } });
    expect(gate(withKey("good-key-0123456789"), server("192.0.2.1"))).toBeUndefined();
    expect(gate(withKey("good-key-0123456789"), server("192.0.2.2"))?.status).toBe(429);
    // Inventing keys buys no fresh buckets: they all land on the address.
    expect(gate(withKey("guess-1"), server("192.0.2.3"))).toBeUndefined();
    expect(gate(withKey("guess-2"), server("192.0.2.3"))?.status).toBe(429);
  });

  it("moves a request's charge from its address to the key its route found in the body", () => {
    const limiter = new RateLimiter({ rate: 2, now: clock().now });
    const { admissions, gate } = gateOf(limiter);
    const address = server("192.0.2.5");
    // Two requests with a body key: each is charged to the address by the gate, then moved to the key.
    for (let i = 0; i < 2; i++) {
      const request = new Request("https://caas/encrypt", { method: "POST" });
      expect(gate(request, address)).toBeUndefined();
      admissions.chargeToKey(request, "main");
      admissions.chargeToKey(request, "main"); // a second call for the same request changes nothing
    }
    // The key's burst is spent, so a third is refused by the key...
    const third = new Request("https://caas/encrypt", { method: "POST" });
    expect(gate(third, address)).toBeUndefined();
    expect(() => admissions.chargeToKey(third, "main")).toThrow(expect.objectContaining({ code: "rate_limited" }));
    // ...while the address paid nothing in the end: its whole burst is still there.
    expect(limiter.take(addressClient("192.0.2.5"))).toBe(0);
    expect(limiter.take(addressClient("192.0.2.5"))).toBe(0);
    expect(limiter.take(addressClient("192.0.2.5"))).toBe(1);
  });

  it("leaves a request charged to a header key where it is", () => {
    const limiter = new RateLimiter({ rate: 1, now: clock().now });
    const { admissions, gate } = gateOf(limiter);
    const request = new Request("https://caas/encrypt", { method: "POST", headers: { "x-api-key": "good-key-0123456789" } });
    expect(gate(request, server("192.0.2.6"))).toBeUndefined();
    admissions.chargeToKey(request, "main"); // already charged to "main": no second token
    expect(limiter.take(addressClient("192.0.2.6"))).toBe(0);
  });

  it("does nothing for a request the gate never saw (a probe, or another server's)", () => {
    const { admissions } = gateOf(new RateLimiter({ rate: 1, now: clock().now }));
    expect(() => admissions.chargeToKey(new Request("https://caas/encrypt"), "main")).not.toThrow();
  });

  it("reaches an Elysia route: the context's request is the one the gate charged", async () => {
    const { admissions, gate } = gateOf(new RateLimiter({ rate: 1, now: clock().now }));
    const app = new Elysia()
      .onError(({ error }) => new Response((error as { code?: string }).code ?? "?", { status: 429 }))
      .post("/encrypt", ({ request }) => {
        admissions.chargeToKey(request, "main");
        return "ok";
      });
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const request = new Request("http://localhost/encrypt", { method: "POST" });
      // A fresh address each time, so only the key's bucket can refuse.
      statuses.push(gate(request, server(`192.0.2.${10 + i}`))?.status ?? (await app.handle(request)).status);
    }
    expect(statuses).toEqual([200, 429]);
  });
});
