/**
 * The "listening" line is a promise that signals are handled: systemd, the supervisor and tests
 * all act on it at once. A SIGHUP that arrives before the handler is installed takes the
 * default action and ends the process (exit 129), so the line must come after the handlers.
 */
import { describe, expect, it } from "bun:test";
import { makeTestPki, startCaas } from "./harness.ts";

const pki = makeTestPki();

describe("a signal sent the moment caas says it is listening", () => {
  it("SIGHUP reloads instead of ending the process, every time", async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const caas = await startCaas({ pki });
      caas.process.kill("SIGHUP");
      await Bun.sleep(300);
      expect(caas.process.exitCode).toBeNull();
      const answer = await caas.post("/oracleinvocation/", { data: "still here" });
      expect(answer.status).toBe(200);
      expect(await caas.stop()).toBe(0);
    }
  }, 60_000);

  it("SIGTERM drains and exits 0, every time", async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const caas = await startCaas({ pki });
      expect(await caas.stop("SIGTERM")).toBe(0);
    }
  }, 60_000);
});
