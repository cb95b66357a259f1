/** Where each setting's value came from, as `serve --check --json` reports it: the first source set wins, and is named. */
import { describe, expect, it } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfigWithOrigins } from "../../src/config.ts";
import { scratchDirectories } from "./scratch.ts";

const scratch = scratchDirectories("caas-config-origins-");

describe("the origin of each setting", () => {
  it("names the flag, then the variable, then the TOML file, then the default", async () => {
    const file = join(await scratch(), "caas.toml");
    await writeFile(file, 'port = 7000\nbatch_max = 20\nhost = "0.0.0.0"\n');
    const { config, origins } = loadConfigWithOrigins({
      flags: { port: "9000" },
      env: { CAAS_BATCH_MAX: "30", CAAS_HOST: "" },
      configFile: file,
    });
    expect([config.port, origins.port]).toEqual([9000, "--port"]);
    expect([config.batchMax, origins.batchMax]).toEqual([30, "CAAS_BATCH_MAX"]);
    // An empty variable is unset, so the file's value stands.
    expect([config.host, origins.host]).toEqual(["0.0.0.0", `${file}: host`]);
    expect([config.workers, origins.workers]).toEqual([1, "default"]);
  });

  it("names a systemd credential by its place in $CREDENTIALS_DIRECTORY", async () => {
    const credentials = await scratch();
    await writeFile(join(credentials, "api-keys"), "{}");
    const { config, origins } = loadConfigWithOrigins({ flags: {}, env: { CREDENTIALS_DIRECTORY: credentials } });
    expect([config.apiKeysFile, origins.apiKeysFile]).toEqual([join(credentials, "api-keys"), "$CREDENTIALS_DIRECTORY/api-keys"]);
  });
});
