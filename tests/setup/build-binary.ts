/**
 * Preloaded by `bun test` (bunfig.toml): builds dist/caas once per run, so the end-to-end suites
 * always exercise the executable made from the code under test, with the flags build.ts ships.
 * CAAS_E2E_BINARY points them at another binary instead (and skips the build).
 */
if (process.env.CAAS_E2E_BINARY === undefined) {
  const build = Bun.spawnSync(["bun", "run", "build.ts"], { cwd: `${import.meta.dir}/../..`, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) {
    process.stderr.write(build.stderr);
    throw new Error("tests/setup: building dist/caas failed");
  }
}
