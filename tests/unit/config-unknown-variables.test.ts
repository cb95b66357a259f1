/**
 * A CAAS_* variable that is no setting (CAAS_PROT=8443) is a typo that would otherwise be ignored
 * silently; variables caas itself or its tests use must not be mistaken for one.
 */
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { NON_SETTING_VARIABLES, SETTINGS, unknownSettingVariables } from "../../src/config.ts";

const REPO = join(import.meta.dir, "../..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "node_modules" || name === "vectors" ? [] : sourceFiles(path);
    return /\.(ts|sh|service|py|go)$/.test(name) ? [path] : [];
  });
}

describe("unknown CAAS_* variables", () => {
  it("names the setting closest to a misspelt one", () => {
    expect(unknownSettingVariables({ CAAS_PROT: "8443" })).toEqual([
      { name: "CAAS_PROT", closest: "CAAS_PORT", message: "CAAS_PROT is not a setting and is ignored (did you mean CAAS_PORT?)" },
    ]);
    expect(unknownSettingVariables({ CAAS_TLS_CLIENT_CERT: "/x" }).map((variable) => variable.closest)).toEqual(["CAAS_TLS_CLIENT_CA"]);
    expect(
      unknownSettingVariables({ CAAS_WORKER: "2", CAAS_APIKEYS_FILE: "/x" }).map((variable) => [variable.name, variable.closest]),
    ).toEqual([
      ["CAAS_APIKEYS_FILE", "CAAS_API_KEYS_FILE"],
      ["CAAS_WORKER", "CAAS_WORKERS"],
    ]);
  });

  it("says nothing about settings, other programs' variables or the ones caas uses itself", () => {
    const env = Object.fromEntries(
      [...SETTINGS.map((setting) => setting.env), ...NON_SETTING_VARIABLES, "PATH", "CAASX", "MY_CAAS_PORT"].map((name) => [name, "1"]),
    );
    expect(unknownSettingVariables(env)).toEqual([]);
  });

  it("knows every CAAS_* variable that src, tests, bench, deploy or the client examples read or set", () => {
    // A variable read as process.env.X, env.X, env["X"], spelt as a string, or set by a unit's
    // Environment=: the next one added without being listed as a setting or in
    // NON_SETTING_VARIABLES fails here. (Build-time defines such as CAAS_BUILD_COMMIT are no variables.)
    const known = new Set([...SETTINGS.map((setting) => setting.env), ...NON_SETTING_VARIABLES]);
    const unlisted: string[] = [];
    const spelt = /(?:env\.|env\[\s*["'`]|["'`]|Environment="?)(CAAS_[A-Z0-9_]*[A-Z0-9])\b(?!\s*[:(])/g;
    // Tests spell misspelt variables on purpose; what they read from the environment counts.
    const read = /(?:env\.|env\[\s*["'`])(CAAS_[A-Z0-9_]*[A-Z0-9])\b/g;
    // Python's os.environ.get("X") and Go's os.Getenv("X") are spelt as strings, which `spelt` finds.
    for (const file of ["src", "tests", "bench", "deploy", "examples"].flatMap((dir) => sourceFiles(join(REPO, dir)))) {
      const pattern = relative(REPO, file).startsWith("tests/") ? read : spelt;
      for (const match of readFileSync(file, "utf8").matchAll(pattern)) {
        if (!known.has(match[1]!)) unlisted.push(`${relative(REPO, file)}: ${match[1]}`);
      }
    }
    expect(unlisted).toEqual([]);
  });
});
