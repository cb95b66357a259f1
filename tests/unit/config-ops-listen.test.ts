/**
 * The ops listener's /metrics names every API key, keyring key and version, in plain HTTP: an
 * address other than loopback is refused (exit 78, naming both settings) unless
 * CAAS_OPS_ALLOW_REMOTE says so, from whichever source, and then `serve --check` warns about it.
 */
import { describe, expect, it } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EXIT_CONFIG } from "../../src/cli/io.ts";
import { main } from "../../src/main.ts";
import { runCommand } from "./helpers.ts";
import { scratchDirectories } from "./scratch.ts";

const scratch = scratchDirectories("caas-config-ops-listen-");

const LOOPBACK = ["127.0.0.1:9464", "127.200.3.4:0", "[::1]:9464", "localhost:9464", "LOCALHOST:9464", "[::ffff:127.0.0.1]:9464", "off"];
const REMOTE = [
  "0.0.0.0:9464",
  "[::]:9464",
  "10.0.0.5:9464",
  "128.0.0.1:9464",
  "[2001:db8::1]:9464",
  "[::2]:9464",
  "monitoring.internal:9464",
  "localhost.example:9464",
];

/** How an address and the allow setting reach `caas serve --check`: flags, variables or the TOML file. */
type Source = "flag" | "env" | "toml";

async function check(source: Source, opsListen: string, allowRemote?: boolean, json = false) {
  const directory = await scratch();
  const env: Record<string, string> = { CAAS_STATE_DIR: directory };
  const args = ["serve", "--check", ...(json ? ["--json"] : [])];
  const allow = allowRemote === undefined ? undefined : String(allowRemote);
  if (source === "flag") {
    args.push("--ops-listen", opsListen, ...(allow === undefined ? [] : ["--ops-allow-remote", allow]));
  } else if (source === "env") {
    env.CAAS_OPS_LISTEN = opsListen;
    if (allow !== undefined) env.CAAS_OPS_ALLOW_REMOTE = allow;
  } else {
    const file = join(directory, "caas.toml");
    await writeFile(file, `ops_listen = "${opsListen}"\n${allow === undefined ? "" : `ops_allow_remote = ${allow}\n`}`);
    args.push("--config", file);
  }
  return runCommand(main, args, env);
}

describe("CAAS_OPS_LISTEN on an address other than loopback", () => {
  for (const source of ["flag", "env", "toml"] as const) {
    for (const address of REMOTE) {
      it(`is refused from the ${source} without CAAS_OPS_ALLOW_REMOTE, or with it false: ${address}`, async () => {
        for (const allow of [undefined, false]) {
          const run = await check(source, address, allow);
          expect(run.code).toBe(EXIT_CONFIG);
          expect(run.out).not.toContain("configuration ok");
          const said = run.err.join("\n");
          expect(said).toContain("CAAS_OPS_LISTEN");
          expect(said).toContain("CAAS_OPS_ALLOW_REMOTE");
          expect(said).toContain(address);
        }
      });
    }
  }

  for (const source of ["flag", "env", "toml"] as const) {
    it(`is served when the ${source} sets CAAS_OPS_ALLOW_REMOTE=true, and serve --check warns`, async () => {
      const run = await check(source, "0.0.0.0:9464", true);
      expect(run.code).toBe(0);
      expect(run.out).toContain("configuration ok");
      const warning = run.err.find((line) => line.includes("CAAS_OPS_LISTEN"));
      expect(warning).toStartWith("caas serve: warning: CAAS_OPS_LISTEN: 0.0.0.0:9464 is reachable from the network");
      expect(warning).toContain("/metrics");
    });
  }

  it("is a warning in serve --check --json", async () => {
    const run = await check("env", "[::]:9464", true, true);
    const report = JSON.parse(run.out.join("\n")) as {
      warnings: string[];
      settings: Record<string, { value: unknown; from: string; env: string }>;
    };
    expect(report.warnings.some((warning) => warning.startsWith("CAAS_OPS_LISTEN: [::]:9464 is reachable"))).toBe(true);
    expect(report.settings.ops_allow_remote).toEqual({ value: true, from: "CAAS_OPS_ALLOW_REMOTE", env: "CAAS_OPS_ALLOW_REMOTE" });
  });
});

describe("CAAS_OPS_LISTEN on loopback, or off", () => {
  for (const address of LOOPBACK) {
    it(`is served without CAAS_OPS_ALLOW_REMOTE and without a warning: ${address}`, async () => {
      const run = await check("env", address);
      expect({ code: run.code, err: run.err.filter((line) => line.includes("CAAS_OPS")) }).toEqual({ code: 0, err: [] });
      expect(run.out).toContain("configuration ok");
    });
  }
});
