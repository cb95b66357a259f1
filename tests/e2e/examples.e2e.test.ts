/**
 * The client examples (examples/python, examples/go, examples/typescript) run as a main server
 * would run them, against dist/caas over TLS with a keyring, a root key and an API key scoped to
 * pseudonym, keyring:orders and keyring:sessions:sign: each must exit 0, and each must verify a
 * JWT that caas signed with the published ES256 key "sessions" against caas's JWKS with its own
 * ecosystem's verifier (PyJWT, Go's crypto/ecdsa, jose), and refuse a token whose key the JWKS
 * does not publish. The TypeScript one is also a consumer project:
 * it installs caas from a `bun pm pack` tarball (which must hold the client types and not the
 * binary) and type-checks against `caas/client` with tsc in strict mode. A missing toolchain
 * (python3 with pycryptodome and PyJWT, go) skips its example with a message; .ci/run installs them.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { addApiKey, cliOk, makeTestPki, type RunningCaas, startCaas, tempDir } from "./harness.ts";

const REPO = resolve(import.meta.dir, "../..");
const EXAMPLES = join(REPO, "examples");
const KEYRING_KEY = "orders";
/** A published ES256 key whose JWTs the examples verify against the JWKS. */
const SIGNING_KEY = "sessions";
/** The same type, not published: its tokens have no key in the JWKS, so a real verifier refuses them. */
const UNPUBLISHED_KEY = "internal";

/** The first Python with pycryptodome and PyJWT: Debian's python3-pycryptodome and python3-jwt serve /usr/bin/python3, which may not be first on PATH. */
const python = ["python3", "/usr/bin/python3"].find(
  (candidate) =>
    Bun.which(candidate) !== null &&
    ["Cryptodome", "Crypto"].some(
      (module) =>
        Bun.spawnSync([candidate, "-c", `import ${module}.Cipher.AES, jwt, cryptography`], { stdout: "ignore", stderr: "ignore" })
          .exitCode === 0,
    ),
);
const hasPycryptodome = python !== undefined;
if (!hasPycryptodome) {
  console.warn(
    "examples.e2e: SKIPPED the Python example: python3 with pycryptodome, PyJWT and cryptography is missing (apt-get install python3-pycryptodome python3-jwt python3-cryptography)",
  );
}
const go = Bun.which("go");
if (go === null) console.warn("examples.e2e: SKIPPED the Go example: go is missing (apt-get install golang-go)");

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs a command to its end with the test's environment plus `env` (where a variable is undefined, without it). */
async function run(command: string[], cwd: string, env: Record<string, string | undefined> = {}, timeoutMs = 120_000): Promise<Run> {
  const started = performance.now();
  const child = Bun.spawn(command, {
    cwd,
    env: Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, value]) => value !== undefined)),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr, ms: performance.now() - started };
}

function explained(what: string, result: Run): string {
  return `${what} exited ${result.code} after ${Math.round(result.ms)} ms\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

const dir = tempDir("caas-examples-e2e-");
chmodSync(dir, 0o700);
const pki = makeTestPki();
const files = { rootKey: join(dir, "root-key"), keyring: join(dir, "keyring.json"), apiKeys: join(dir, "api-keys.json") };
let server: RunningCaas;
let apiKey: string;
let secrets: string[];

/** What each example reads: caas's address, the CA to trust, an API key and the keyring keys to use. */
function clientEnv(signingKey = SIGNING_KEY): Record<string, string> {
  return {
    CAAS_URL: server.url,
    CAAS_API_KEY: apiKey,
    CAAS_CACERT: pki.caCert,
    CAAS_KEYRING_KEY: KEYRING_KEY,
    CAAS_SIGNING_KEY: signingKey,
  };
}

/**
 * An example's run must succeed, print each family's line, say that `verifier` checked caas's
 * ES256 token against the JWKS (and refused a tampered one), and never print a secret or token.
 */
function expectRoundTrips(name: string, result: Run, verifier: string): void {
  if (result.code !== 0) throw new Error(explained(name, result));
  console.log(`examples.e2e: ${name} ran in ${Math.round(result.ms)} ms`);
  for (const family of ["oracle:", "pseudonym:", `keyring ${KEYRING_KEY}:`, "datakey:", "all round trips passed"]) {
    expect(result.stdout).toContain(family);
  }
  expect(result.stdout).toContain(
    `jwt: signed by caas as ${SIGNING_KEY}.v1 (ES256), verified by ${verifier} against the JWKS: sub user-42, expires in 300 s; a tampered token was refused`,
  );
  for (const secret of secrets) expect(result.stdout + result.stderr).not.toContain(secret);
  expect(result.stdout).not.toMatch(/caas:v\d+:/);
  expect(result.stdout + result.stderr).not.toMatch(/eyJ[\w-]*\.eyJ/);
}

/** The same example given a key the JWKS does not publish: its verifier finds no key for the token's kid and the run fails. */
function expectUnpublishedRefused(name: string, result: Run): void {
  if (result.code === 0) throw new Error(explained(`${name} with an unpublished signing key`, result));
  expect(result.stdout).toContain("datakey:");
  expect(result.stdout).not.toContain("jwt: signed by caas");
  expect(result.stdout).not.toContain("all round trips passed");
  expect(result.stderr).toContain("caas example failed");
}

beforeAll(async () => {
  cliOk("root-key", "init", files.rootKey);
  cliOk("keyring", "create", KEYRING_KEY, "--file", files.keyring, "--root-key", files.rootKey);
  cliOk("keyring", "create", SIGNING_KEY, "--type", "ecdsa-p256", "--publish", "--file", files.keyring, "--root-key", files.rootKey);
  cliOk("keyring", "create", UNPUBLISHED_KEY, "--type", "ecdsa-p256", "--file", files.keyring, "--root-key", files.rootKey);
  apiKey = addApiKey(
    "main-server",
    files.apiKeys,
    ...["--scope", "pseudonym", "--scope", `keyring:${KEYRING_KEY}`],
    ...["--scope", `keyring:${SIGNING_KEY}:sign`, "--scope", `keyring:${UNPUBLISHED_KEY}:sign`],
  );
  // What the examples send; none of it may come back in what they print.
  secrets = [apiKey, "attack at dawn", "user@example.com", "card 4111 1111 1111 1111"];
  server = await startCaas({
    pki,
    env: { CAAS_KEYRING_FILE: files.keyring, CAAS_ROOT_KEY_FILE: files.rootKey, CAAS_API_KEYS_FILE: files.apiKeys },
  });
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the client examples against dist/caas", () => {
  it.skipIf(!hasPycryptodome)(
    "python: every endpoint family round-trips, the API key in the body for pseudonyms, and PyJWT verifies caas's JWT",
    async () => {
      const example = [python!, join(EXAMPLES, "python/example.py")];
      expectRoundTrips("examples/python", await run(example, dir, clientEnv()), "PyJWT");
      expectUnpublishedRefused("examples/python", await run(example, dir, clientEnv(UNPUBLISHED_KEY)));
    },
  );

  it.skipIf(!hasPycryptodome)(
    "python: in development mode, the dev API key and, with CAAS_KEYRING_KEY and CAAS_SIGNING_KEY unset, keys dev and dev-jwt",
    async () => {
      const home = tempDir("caas-examples-dev-");
      const development = await startCaas({ cwd: home, env: { CAAS_TLS_CERT: "", CAAS_TLS_KEY: "" } });
      try {
        const state = join(home, "state");
        const env = {
          CAAS_URL: `https://localhost:${development.port}`,
          CAAS_API_KEY: (await Bun.file(join(state, "dev-api-key")).text()).trim(),
          CAAS_CACERT: join(state, "dev-certificate.pem"),
          CAAS_KEYRING_KEY: undefined,
          CAAS_SIGNING_KEY: undefined,
        };
        const result = await run([python!, join(EXAMPLES, "python/example.py")], home, env, 60_000);
        if (result.code !== 0) throw new Error(explained("examples/python in development mode", result));
        expect(result.stdout).toContain("keyring dev: encrypted under version 1");
        expect(result.stdout).toContain("jwt: signed by caas as dev-jwt.v1 (ES256), verified by PyJWT against the JWKS");
      } finally {
        await development.stop();
      }
    },
  );

  it.skipIf(go === null)(
    "go: every endpoint family round-trips with the standard library alone, the JWT checked by hand against the JWKS",
    async () => {
      // The build cache outlives the run so only the first build on a machine compiles the standard library.
      const env = { GOCACHE: join(tmpdir(), "caas-examples-gocache"), GOPROXY: "off", GOTOOLCHAIN: "local" };
      const binary = join(dir, "go-example");
      const build = await run([go!, "build", "-o", binary, "."], join(EXAMPLES, "go"), env, 300_000);
      if (build.code !== 0) throw new Error(explained("go build", build));
      console.log(`examples.e2e: go build took ${Math.round(build.ms)} ms`);
      expectRoundTrips("examples/go", await run([binary], dir, clientEnv()), "the standard library");
      expectUnpublishedRefused("examples/go", await run([binary], dir, clientEnv(UNPUBLISHED_KEY)));
    },
    360_000,
  );

  it("typescript: the packed types hold no binary, a strict consumer type-checks, the Eden example round-trips and jose verifies caas's JWT", async () => {
    // Laid out as in the repository, so the fixture's "file:../../dist/caas-client.tgz" finds the tarball.
    const consumer = join(dir, "consumer");
    const tarball = join(consumer, "dist/caas-client.tgz");
    mkdirSync(join(consumer, "dist"), { recursive: true });
    const pack = await run(["bun", "pm", "pack", "--quiet", "--filename", tarball], REPO);
    if (pack.code !== 0) throw new Error(explained("bun pm pack", pack));
    const listing = (await run(["tar", "tzf", tarball], dir)).stdout.split("\n").filter((line) => line !== "");
    expect(listing).toContain("package/dist/types/client.d.ts");
    expect(listing).toContain("package/package.json");
    expect(listing.filter((path) => !path.startsWith("package/dist/types/") && path.endsWith(".ts"))).toEqual([]);
    expect(listing).not.toContain("package/dist/caas");
    expect(Bun.file(tarball).size).toBeLessThan(1_000_000);

    const project = join(consumer, "examples/typescript");
    mkdirSync(project, { recursive: true });
    // The fixture's own files, not a developer's node_modules or lockfile beside them.
    for (const file of ["package.json", "tsconfig.json", "example.ts", "contract.ts"])
      cpSync(join(EXAMPLES, "typescript", file), join(project, file));
    const install = await run(["bun", "install", "--no-save", "--prefer-offline"], project);
    if (install.code !== 0) throw new Error(explained("bun install", install));
    expect(existsSync(join(project, "node_modules/caas/dist/caas"))).toBe(false);
    expect(existsSync(join(project, "node_modules/caas/src"))).toBe(false);

    const typecheck = await run(["bun", "run", "typecheck"], project);
    if (typecheck.code !== 0) throw new Error(explained("tsc --noEmit in the consumer", typecheck));
    console.log(`examples.e2e: pack ${Math.round(pack.ms)} ms, install ${Math.round(install.ms)} ms, tsc ${Math.round(typecheck.ms)} ms`);

    expectRoundTrips("examples/typescript", await run(["bun", "run", "example.ts"], project, clientEnv()), "jose");
    expectUnpublishedRefused("examples/typescript", await run(["bun", "run", "example.ts"], project, clientEnv(UNPUBLISHED_KEY)));
  }, 180_000);
});
