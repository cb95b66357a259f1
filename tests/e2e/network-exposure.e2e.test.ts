/**
 * What the binary believes about the network: an ops listener on an address other than
 * loopback only with CAAS_OPS_ALLOW_REMOTE, with or without workers, and a client's address from
 * X-Forwarded-For only when the peer is a proxy CAAS_TRUSTED_PROXIES lists.
 */
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cli, startCaas, tempDir } from "./harness.ts";

describe("CAAS_OPS_LISTEN on every interface", () => {
  it("is refused without CAAS_OPS_ALLOW_REMOTE, exit 78 naming both settings, with or without workers", () => {
    for (const workers of ["1", "2"]) {
      const home = tempDir();
      const run = cli(["serve", "--workers", workers], {
        cwd: home,
        env: { CAAS_PORT: "0", CAAS_STATE_DIR: join(home, "state"), CAAS_OPS_LISTEN: "0.0.0.0:0" },
        timeoutMs: 5_000,
      });
      expect(run.code).toBe(78);
      expect(run.stderr).toContain("CAAS_OPS_LISTEN: 0.0.0.0:0 is not a loopback address");
      expect(run.stderr).toContain("CAAS_OPS_ALLOW_REMOTE=true");
    }
  });

  it("is served with CAAS_OPS_ALLOW_REMOTE=true, and the start says so", async () => {
    const caas = await startCaas({ env: { CAAS_OPS_LISTEN: "0.0.0.0:0", CAAS_OPS_ALLOW_REMOTE: "true" } });
    try {
      expect(caas.output()).toMatch(/"level":"warn","event":"ops_listen_remote"[^\n]*is reachable from the network/);
      expect((await caas.ops("/healthz")).status).toBe(200);
    } finally {
      await caas.stop();
    }
  });
});

describe("the audit line's client behind a proxy", () => {
  const forwarded = { "x-forwarded-for": "198.51.100.1, 203.0.113.7" };

  for (const [trusted, client] of [
    [undefined, "127.0.0.1"],
    ["10.0.0.0/8", "127.0.0.1"],
    ["127.0.0.1", "203.0.113.7"],
    ["10.0.0.0/8, 127.0.0.0/8", "203.0.113.7"],
  ] as const) {
    it(`is ${client} from a peer on 127.0.0.1 with CAAS_TRUSTED_PROXIES=${trusted ?? "(unset)"}`, async () => {
      const auditFile = join(tempDir(), "audit.log");
      const caas = await startCaas({
        env: { CAAS_AUDIT_LOG: auditFile, ...(trusted === undefined ? {} : { CAAS_TRUSTED_PROXIES: trusted }) },
      });
      try {
        expect((await caas.post("/oracleinvocation", { data: "x" }, forwarded)).status).toBe(200);
        const lines = readFileSync(auditFile, "utf8").trim().split("\n");
        expect((JSON.parse(lines.at(-1) ?? "{}") as { client?: string }).client).toBe(client);
      } finally {
        await caas.stop();
      }
    });
  }
});
