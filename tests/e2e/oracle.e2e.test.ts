import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { startCaas, type RunningCaas } from "./harness.ts";

let caas: RunningCaas;
beforeAll(async () => {
  caas = await startCaas();
});
afterAll(async () => {
  await caas.stop();
});

describe("the oracle, end to end over TLS against dist/caas", () => {
  for (const path of ["/oracleinvocation/", "/oracleinvocation"]) {
    it(`seals and opens text at ${path}`, async () => {
      const sealed = await caas.post(path, { data: "attack at dawn ☀️", aad: "order-42" });
      expect(sealed.status).toBe(200);
      expect(sealed.headers.get("cache-control")).toBe("no-store");
      const box = (await sealed.json()) as Record<string, string>;
      expect(Object.keys(box).sort()).toEqual(["data", "key", "mac", "nonce"]);
      const opened = await caas.post("/oracleinvocation/decrypt", { ...box, aad: "order-42" });
      expect(await opened.json()).toEqual({ data: "attack at dawn ☀️" });
    });
  }

  it("answers health checks", async () => {
    const answer = await caas.request("/healthz");
    expect(await answer.json()).toEqual({ status: "ok" });
  });

  it("never serves plain HTTP on the TLS port", async () => {
    const plain = await fetch(`http://127.0.0.1:${caas.port}/healthz`).then(
      (answer) => answer.status,
      () => "refused",
    );
    expect(plain).toBe("refused");
  });
});
