/**
 * dist/caas as an operator meets it: copied alone into an empty directory and run there, with
 * no repository, node_modules or configuration beside it. Its commands, help and exit codes
 * (0 ok, 2 usage, 78 configuration), an ad-hoc certificate it reports truthfully, one clear
 * line within a second for each configuration mistake, and `caas decrypt` against a live answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, cli, makeTestPki, startCaas, tempDir, type CliRun, type RunningCaas, type TestPki } from "./harness.ts";
import { fingerprintOfPemFile, presentedFingerprint } from "./ops-clients.ts";
import { defaultText, SETTINGS } from "../../src/config.ts";
import { README_USER } from "../../support/constants.ts";

const REPO = join(import.meta.dir, "../..");

let home: string;
let caas: string;
let pki: TestPki;

beforeAll(() => {
  home = tempDir("caas-alone-");
  caas = join(home, "caas");
  copyFileSync(BINARY, caas);
  pki = makeTestPki();
});
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
});

/** Runs the copied binary in its own directory with nothing but PATH and HOME set. */
const run = (args: string[], env: Record<string, string> = {}) => cli(args, { binary: caas, cwd: home, env, timeoutMs: 4_000 });

function stderrLines(result: CliRun): string[] {
  return result.stderr
    .trimEnd()
    .split("\n")
    .filter((line) => line !== "");
}

describe("the commands, from an empty directory", () => {
  it("prints the version and the commit it was built from", () => {
    const result = run(["--version"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^caas \d+\.\d+\.\d+ \(([0-9a-f]{12}(-dirty)?|unknown)\) bun \d+\.\d+\.\d+\n$/);
    const head = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: import.meta.dir, stderr: "ignore" });
    if (head.exitCode === 0) expect(result.stdout).toContain(`(${head.stdout.toString().trim()}`);
    expect(run(["version"]).stdout).toBe(result.stdout);
  });

  it("answers --help with every command, exit 0", () => {
    const result = run(["--help"]);
    expect(result.code).toBe(0);
    for (const command of ["serve", "keys", "secret", "root-key", "keyring", "decrypt", "version"])
      expect(result.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    expect(result.stdout).toContain(
      "Exit codes: 0 ok, 2 usage, 70 unexpected error, 74 stdout closed, 75 file locked (try again),\n78 configuration error",
    );
  });

  for (const command of ["serve", "keys", "secret", "root-key", "keyring", "decrypt", "version"]) {
    it(`answers '${command} --help' and 'help ${command}' with its usage, exit 0`, () => {
      const result = run([command, "--help"]);
      expect(result.code).toBe(0);
      expect(result.stdout).toStartWith(`usage: caas ${command}`);
      expect(result.stderr).toBe("");
      expect(run(["help", command])).toMatchObject({ code: 0, stdout: result.stdout, stderr: "" });
    });
  }

  it("lists every setting with its flag and environment variable in 'serve --help'", () => {
    const help = run(["serve", "--help"]).stdout;
    for (const flag of [
      "--host",
      "--port",
      "--tls-cert",
      "--tls-key",
      "--secret-file",
      "--api-keys-file",
      "--drain-timeout",
      "--workers",
      "--log-level",
    ]) {
      expect(help).toContain(flag);
    }
    expect(help).toContain("CAAS_TLS_CERT");
    expect(help).toContain("--check");
    expect(help).toContain("--config FILE");
  });

  it("states every setting's default in 'serve --help' as the settings table does", () => {
    const help = run(["serve", "--help"]).stdout.split("\n");
    for (const setting of SETTINGS) {
      const line = help.find((candidate) => candidate.startsWith(`  --${setting.flag} `));
      expect(line ?? `no line for --${setting.flag}`).toMatch(
        new RegExp(` ${setting.env} .*; default ${RegExp.escape(defaultText(setting).replaceAll("`", ""))}$`),
      );
    }
  });

  it("exits 2 with one line for an unknown command, an unknown option or no command", () => {
    const unknownCommand = run(["frobnicate"]);
    expect(unknownCommand.code).toBe(2);
    expect(stderrLines(unknownCommand)).toEqual(["caas: unknown command 'frobnicate' (try 'caas --help')"]);
    const unknownOption = run(["serve", "--frobnicate"]);
    expect(unknownOption.code).toBe(2);
    expect(stderrLines(unknownOption)).toEqual(["caas serve: unknown option '--frobnicate'"]);
    expect(run(["help", "nonsense"])).toMatchObject({
      code: 2,
      stdout: "",
      stderr: "caas: unknown command 'nonsense' (try 'caas --help')\n",
    });
    expect(run(["keys", "add"]).code).toBe(2);
    expect(run(["version", "extra"]).code).toBe(2);
    expect(run([]).code).toBe(2);
  });

  it("quotes a mistyped command or option back with the one most likely meant: one line, exit 2", () => {
    for (const [args, line] of [
      [["kyes"], "caas: unknown command 'kyes'; did you mean 'keys'?"],
      [["keys", "lsit"], "caas keys: unknown command 'lsit'; did you mean 'list'?"],
      [["serve", "--chek"], "caas serve: unknown option '--chek'; did you mean '--check'?"],
    ] as const) {
      const result = run([...args]);
      expect({ args, code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({
        args,
        code: 2,
        stdout: "",
        stderr: `${line}\n`,
      });
    }
  });

  it("writes nothing beside itself while answering these", () => {
    expect(readdirSync(home)).toEqual(["caas"]);
  });
});

describe("configuration errors stop start-up within a second, in one line naming the setting", () => {
  let files: string;
  beforeAll(() => {
    files = tempDir("caas-bad-config-");
    writeFileSync(join(files, "unknown-key.toml"), 'port = 8443\nlisten_adress = "0.0.0.0"\n');
    writeFileSync(join(files, "broken.toml"), "port = \n");
    writeFileSync(join(files, "port-text.toml"), 'port = "abc"\n');
    mkdirSync(join(files, "a-directory"));
  });
  afterAll(() => {
    rmSync(files, { recursive: true, force: true });
  });

  const cases: { name: string; args: () => string[]; env?: Record<string, string>; code: number; line: () => RegExp }[] = [
    {
      name: "a missing certificate file",
      args: () => ["--tls-cert", join(files, "missing.pem"), "--tls-key", pki.serverKey],
      code: 78,
      line: () => new RegExp(`^caas serve: --tls-cert: file '${join(files, "missing.pem")}' does not exist$`),
    },
    {
      name: "a missing certificate file named in the environment",
      args: () => [],
      env: { CAAS_TLS_CERT: "/nonexistent/tls.crt", CAAS_TLS_KEY: "/nonexistent/tls.key" },
      code: 78,
      line: () => /^caas serve: CAAS_TLS_CERT: file '\/nonexistent\/tls\.crt' does not exist$/,
    },
    {
      name: "a secret file that cannot be read",
      args: () => ["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--secret-file", join(files, "a-directory")],
      code: 78,
      line: () => new RegExp(`^caas serve: CAAS_SECRET_FILE: secret file ${join(files, "a-directory")} .*not a regular file$`),
    },
    {
      name: "an API keys file that cannot be read",
      args: () => ["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--api-keys-file", join(files, "a-directory")],
      code: 78,
      line: () => new RegExp(`^caas serve: CAAS_API_KEYS_FILE: keys file ${join(files, "a-directory")} .*not a regular file$`),
    },
    {
      name: "a port that is not a number (flag)",
      args: () => ["--port", "abc"],
      code: 78,
      line: () => /^caas serve: --port: 'abc' is not a whole number$/,
    },
    {
      name: "a port that is not a number (environment)",
      args: () => [],
      env: { CAAS_PORT: "abc" },
      code: 78,
      line: () => /^caas serve: CAAS_PORT: 'abc' is not a whole number$/,
    },
    {
      name: "a port that is not a number (TOML)",
      args: () => ["--config", join(files, "port-text.toml")],
      code: 78,
      line: () => new RegExp(`^caas serve: ${join(files, "port-text.toml")}: port: 'abc' is not a whole number$`),
    },
    {
      name: "a port out of range",
      args: () => ["--port", "70000"],
      code: 78,
      line: () => /^caas serve: --port: 70000 is outside 0\.\.65535$/,
    },
    {
      name: "an unknown flag (a usage error)",
      args: () => ["--prot", "8443"],
      code: 2,
      line: () => /^caas serve: unknown option '--prot'; did you mean '--port'\?$/,
    },
    {
      name: "an unknown key in the TOML file",
      args: () => ["--config", join(files, "unknown-key.toml")],
      code: 78,
      line: () => new RegExp(`^caas serve: ${join(files, "unknown-key.toml")}: unknown setting 'listen_adress'$`),
    },
    {
      name: "a TOML file that does not parse",
      args: () => ["--config", join(files, "broken.toml")],
      code: 78,
      line: () => new RegExp(`^caas serve: --config: '${join(files, "broken.toml")}' is not valid TOML \\(.+\\)$`),
    },
    {
      name: "a missing TOML file",
      args: () => ["--config", join(files, "absent.toml")],
      code: 78,
      line: () => new RegExp(`^caas serve: --config: file '${join(files, "absent.toml")}' does not exist$`),
    },
    {
      name: "a certificate without its key",
      args: () => ["--tls-cert", pki.serverCert],
      code: 78,
      line: () => /^caas serve: CAAS_TLS_CERT and CAAS_TLS_KEY: set both or neither$/,
    },
    {
      name: "a key file given as the certificate",
      args: () => ["--tls-cert", pki.serverKey, "--tls-key", pki.serverKey],
      code: 78,
      line: () => new RegExp(`^caas serve: CAAS_TLS_CERT: '${pki.serverKey}' holds no PEM certificate$`),
    },
  ];

  for (const mistake of cases) {
    it(`${mistake.name}: exit ${mistake.code}`, () => {
      const result = run(["serve", ...mistake.args()], mistake.env);
      expect(result.code).toBe(mistake.code);
      expect(result.ms).toBeLessThan(1_000);
      const lines = stderrLines(result);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(mistake.line());
    });
  }
});

describe("the credential files, listed and changed", () => {
  it("lists API keys as JSON without a key or hash, and exits 1 removing a name no keys file holds", () => {
    const files = tempDir("caas-keys-");
    const keys = join(files, "keys.json");
    const key = run(["keys", "add", "main", "--file", keys]).stdout.trimEnd().split("\n").at(-1)!;
    const listed = run(["keys", "list", "--json", "--file", keys]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({
      keys: [{ name: "main", profile: "standard", created: expect.any(String), scopes: ["pseudonym"] }],
    });
    expect(listed.stdout).not.toContain(key.slice(5));
    const absent = run(["keys", "remove", "main", "--file", join(files, "absent.json")]);
    expect(absent.code).toBe(1);
    expect(stderrLines(absent)).toHaveLength(1);
    rmSync(files, { recursive: true, force: true });
  });

  it("lists secret versions and retires an old one, never the active one, printing no secret", async () => {
    const files = tempDir("caas-secret-");
    const secret = join(files, "secret.json");
    expect(run(["secret", "init", secret]).code).toBe(0);
    // The one-step rotation, so version 2 is active and 1 can be retired.
    expect(run(["secret", "rotate", "--activate-in", "0", secret]).code).toBe(0);
    const current = run(["secret", "retire", "2", secret]);
    expect(current.code).toBe(1);
    expect(stderrLines(current)).toHaveLength(1);
    expect(run(["secret", "retire", "9", secret]).code).toBe(1);
    const retired = run(["secret", "retire", "1", secret]);
    expect(retired.code).toBe(0);
    const listed = run(["secret", "list", "--json", secret]);
    expect(listed.code).toBe(0);
    const { active_version, versions } = JSON.parse(listed.stdout) as { active_version: number; versions: { state: string }[] };
    expect([active_version, versions.map((entry) => entry.state)]).toEqual([2, ["retired", "active"]]);
    const stored = (JSON.parse(readFileSync(secret, "utf8")) as { versions: { secret: string }[] }).versions.map((entry) => entry.secret);
    for (const text of [retired.stdout, listed.stdout, run(["secret", "list", secret]).stdout])
      for (const value of stored) expect(text).not.toContain(value.slice(0, 16));
    // The server loads the file and says how many versions it holds and how many of them are retired.
    const served = await startCaas({ binary: caas, env: { CAAS_SECRET_FILE: secret } });
    try {
      expect(served.output()).toMatch(
        /"event":"credentials_loaded"[^\n]*"secretVersions":2,"retiredSecretVersions":1,"newestSecretVersion":2/,
      );
    } finally {
      await served.stop();
    }
    rmSync(files, { recursive: true, force: true });
  });
});

describe("serve --check", () => {
  it("validates certificate, secret and keys, says so and exits 0 without listening", () => {
    const files = tempDir("caas-check-");
    const secret = join(files, "secret.json");
    const keys = join(files, "keys.json");
    expect(run(["secret", "init", secret]).code).toBe(0);
    expect(run(["keys", "add", "main", "--file", keys]).code).toBe(0);
    const result = run([
      "serve",
      "--check",
      "--tls-cert",
      pki.serverCert,
      "--tls-key",
      pki.serverKey,
      "--secret-file",
      secret,
      "--api-keys-file",
      keys,
      "--port",
      "1",
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("configuration ok\n");
    expect(result.stderr).toBe("");
    rmSync(files, { recursive: true, force: true });
  });

  it("says in one line that every API key will be refused when a certificate comes with no keys file, and not in development", () => {
    const files = tempDir("caas-check-");
    const secret = join(files, "secret.json");
    expect(run(["secret", "init", secret]).code).toBe(0);
    const production = run(["serve", "--check", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--secret-file", secret]);
    expect(production.code).toBe(0);
    expect(production.stdout).toBe(
      "no API keys file (CAAS_API_KEYS_FILE): every API key will be refused; the pseudonym (/encrypt, /encode, /verify) and keyring routes answer 401\nconfiguration ok\n",
    );
    const withOracle = run(["serve", "--check", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--secret-file", secret], {
      CAAS_ORACLE_REQUIRE_KEY: "true",
    });
    expect(withOracle.stdout).toContain("401, and so does the oracle (CAAS_ORACLE_REQUIRE_KEY)\n");
    // Development makes a key of its own, so nothing is refused; --check names the key file instead.
    const development = run(["serve", "--check", "--secret-file", secret], { CAAS_STATE_DIR: join(files, "state") });
    expect(development.code).toBe(0);
    expect(development.stdout).toContain(`would create ${join(files, "state", "dev-api-key")} (a development API key, mode 0600)`);
    expect(development.stdout).not.toContain("refused");
    rmSync(files, { recursive: true, force: true });
  });

  it("prints the effective configuration as JSON with --check --json: values, where each came from, files as paths only", () => {
    const files = tempDir("caas-check-");
    const secret = join(files, "secret.json");
    const keys = join(files, "keys.json");
    const config = join(files, "caas.toml");
    expect(run(["secret", "init", secret]).code).toBe(0);
    const key = run(["keys", "add", "main", "--file", keys]).stdout.trimEnd().split("\n").at(-1)!;
    writeFileSync(config, "batch_max = 50\n");
    const result = run(
      ["serve", "--check", "--json", "--config", config, "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--port", "9443"],
      { CAAS_SECRET_FILE: secret, CAAS_API_KEYS_FILE: keys, CAAS_PROT: "1", CAAS_STATE_DIR: join(files, "state") },
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout.trimEnd().split("\n")).toHaveLength(1);
    const report = JSON.parse(result.stdout) as {
      ok: boolean;
      mode: string;
      settings: Record<string, { value: unknown; from: string; env: string }>;
      would_create: string[];
      notes: string[];
      warnings: string[];
    };
    expect(report.ok).toBe(true);
    expect(report.mode).toBe("production");
    expect(Object.keys(report.settings)).toEqual(SETTINGS.map((setting) => setting.file));
    expect(report.settings.port).toEqual({ value: 9443, from: "--port", env: "CAAS_PORT" });
    expect(report.settings.secret_file).toEqual({ value: secret, from: "CAAS_SECRET_FILE", env: "CAAS_SECRET_FILE" });
    expect(report.settings.batch_max).toEqual({ value: 50, from: `${config}: batch_max`, env: "CAAS_BATCH_MAX" });
    expect(report.settings.host).toEqual({ value: "127.0.0.1", from: "default", env: "CAAS_HOST" });
    expect(report.settings.root_key_file).toEqual({ value: null, from: "default", env: "CAAS_ROOT_KEY_FILE" });
    expect(report.would_create).toEqual([]);
    expect(report.notes).toEqual([]);
    expect(report.warnings).toEqual(["CAAS_PROT is not a setting and is ignored (did you mean CAAS_PORT?)"]);
    // Credential files by path, never what they hold.
    const stored = (JSON.parse(readFileSync(secret, "utf8")) as { versions: { secret: string }[] }).versions[0]!.secret;
    expect(result.stdout).not.toContain(stored.slice(0, 16));
    expect(result.stdout).not.toContain(key.slice(5));
    expect(result.stdout).not.toContain("BEGIN");
    expect(run(["serve", "--json"]).code).toBe(2);

    // Without a certificate or keys file: development, with what it would create and no key refused.
    const state = join(files, "dev-state");
    const development = JSON.parse(run(["serve", "--check", "--json"], { CAAS_STATE_DIR: state }).stdout) as typeof report;
    expect(development.mode).toBe("development");
    expect(development.would_create).toContain(`${join(state, "dev-api-key")} (a development API key, mode 0600)`);
    expect(development.would_create[0]).toStartWith("an ad-hoc self-signed certificate in memory");
    expect(development.notes).toEqual([]);
    rmSync(files, { recursive: true, force: true });
  });

  it("accepts the example configuration in deploy/caas.toml", () => {
    const result = run(["serve", "--check", "--config", join(REPO, "deploy/caas.toml")]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("exits 78 with the same one line as a real start when something is wrong", () => {
    const result = run(["serve", "--check", "--tls-cert", pki.serverCert, "--tls-key", "/nonexistent.key"]);
    expect(result.code).toBe(78);
    expect(stderrLines(result)).toEqual(["caas serve: --tls-key: file '/nonexistent.key' does not exist"]);
    expect(result.stdout).toBe("");
  });
});

describe("serving from the empty directory", () => {
  let server: RunningCaas;
  afterAll(async () => {
    await server?.stop();
  });

  it("starts with an ad-hoc certificate when none is configured and logs the fingerprint it presents", async () => {
    const adhoc = await startCaas({ binary: caas, cwd: tempDir("caas-adhoc-"), env: { CAAS_TLS_CERT: "", CAAS_TLS_KEY: "" } });
    try {
      const logged = /"event":"adhoc_certificate"[^\n]*"sha256":"([0-9A-F:]{95})"/.exec(adhoc.output());
      expect(logged).not.toBeNull();
      expect(adhoc.output()).toMatch(/"level":"warn","event":"adhoc_certificate"/);
      expect(await presentedFingerprint(adhoc.port)).toBe(logged![1]!);
      const healthy = await fetch(`${adhoc.url}/healthz`, { tls: { rejectUnauthorized: false } } as RequestInit);
      expect(healthy.status).toBe(200);
    } finally {
      expect(await adhoc.stop()).toBe(0);
    }
  });

  it("opens an oracle answer offline with 'caas decrypt'", async () => {
    server = await startCaas({ binary: caas, cwd: tempDir("caas-decrypt-"), pki });
    const plaintext = "attack at dawn ☀️";
    for (const aad of [undefined, "order-42"]) {
      const sealed = (await (
        await server.post("/oracleinvocation/", { data: plaintext, ...(aad === undefined ? {} : { aad }) })
      ).json()) as Record<string, string>;
      const args = [
        "decrypt",
        "--key",
        sealed.key!,
        "--nonce",
        sealed.nonce!,
        "--mac",
        sealed.mac!,
        "--data",
        sealed.data!,
        ...(aad === undefined ? [] : ["--aad", aad]),
      ];
      const opened = run(args);
      expect(opened.code).toBe(0);
      expect(opened.stdout).toBe(`${plaintext}\n`);
      // A wrong associated text fails authentication: exit 1, no plaintext.
      const tampered = run([...args.filter((arg, index) => arg !== "--aad" && args[index - 1] !== "--aad"), "--aad", "order-43"]);
      expect(tampered.code).toBe(1);
      expect(tampered.stdout).toBe("");
    }
  });

  it("refuses to start a second instance on the same port: exit 78 within a second, one line", () => {
    const second = run(["serve", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--port", String(server.port)]);
    expect(second.code).toBe(78);
    expect(second.ms).toBeLessThan(1_000);
    expect(stderrLines(second)).toEqual([`caas serve: CAAS_PORT: cannot listen on 127.0.0.1:${server.port} (address already in use)`]);
    expect(server.process.exitCode).toBeNull();
  });

  it("refuses a second supervisor (--workers 2) on the same port too", () => {
    const second = run([
      "serve",
      "--tls-cert",
      pki.serverCert,
      "--tls-key",
      pki.serverKey,
      "--port",
      String(server.port),
      "--workers",
      "2",
    ]);
    expect(second.code).toBe(78);
    expect(stderrLines(second)).toEqual([`caas serve: CAAS_PORT: cannot listen on 127.0.0.1:${server.port} (address already in use)`]);
  });
});

describe("under systemd", () => {
  it("reads tls.crt, tls.key, secret, api-keys, root-key and keyring from $CREDENTIALS_DIRECTORY when no setting names them", async () => {
    const credentials = tempDir("caas-credentials-");
    copyFileSync(pki.serverCert, join(credentials, "tls.crt"));
    copyFileSync(pki.serverKey, join(credentials, "tls.key"));
    expect(run(["secret", "init", join(credentials, "secret")]).code).toBe(0);
    expect(run(["root-key", "init", join(credentials, "root-key")]).code).toBe(0);
    const keyring = ["--file", join(credentials, "keyring"), "--root-key", join(credentials, "root-key")];
    expect(run(["keyring", "create", "orders", ...keyring]).code).toBe(0);
    const scopes = ["--scope", "pseudonym", "--scope", "keyring:orders"];
    const added = run(["keys", "add", "main-server", "--file", join(credentials, "api-keys"), ...scopes]);
    const apiKey = added.stdout.trimEnd().split("\n").at(-1)!;
    // As systemd hands them over: read-only, to the service's user alone.
    for (const name of readdirSync(credentials)) chmodSync(join(credentials, name), 0o400);
    const served = await startCaas({
      binary: caas,
      cwd: tempDir("caas-systemd-"),
      pki,
      env: { CAAS_TLS_CERT: "", CAAS_TLS_KEY: "", CREDENTIALS_DIRECTORY: credentials },
    });
    try {
      expect(await presentedFingerprint(served.port)).toBe(fingerprintOfPemFile(pki.serverCert));
      const answer = await served.post("/encrypt", { userUUID: README_USER, sensitiveData: "x" }, { "x-api-key": apiKey });
      expect(answer.status).toBe(200);
      // Without the keyring credential, "orders" would be 404 unknown_key; under another root key, no start at all.
      const bearer = { authorization: `Bearer ${apiKey}` };
      const sealed = await served.post("/keyring/orders/encrypt", { data: "from the credentials directory" }, bearer);
      expect(sealed.status).toBe(200);
      const { ciphertext } = (await sealed.json()) as { ciphertext: string };
      const opened = await served.post("/keyring/orders/decrypt", { ciphertext }, bearer);
      expect({ status: opened.status, body: await opened.json() }).toEqual({
        status: 200,
        body: { data: "from the credentials directory" },
      });
      for (const event of ["adhoc_certificate", "secret_created", "secret_from_state_dir", "no_api_keys"])
        expect(served.output()).not.toContain(`"event":"${event}"`);
      expect(served.output()).toMatch(/"event":"credentials_loaded"[^\n]*"apiKeys":1[^\n]*"keyringKeys":1/);
    } finally {
      await served.stop();
      rmSync(credentials, { recursive: true, force: true });
    }
  });

  it("lets a setting override a credential", () => {
    const credentials = tempDir("caas-credentials-");
    writeFileSync(join(credentials, "tls.crt"), "not a certificate");
    const result = run(["serve", "--check", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey], {
      CREDENTIALS_DIRECTORY: credentials,
    });
    expect(result.code).toBe(0);
    rmSync(credentials, { recursive: true, force: true });
  });
});
