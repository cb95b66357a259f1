/**
 * dist/caas at start-up, as an operator and systemd meet it. Every configuration mistake, whether
 * found by `serve`, by a supervisor (`--workers 2`) or by `serve --check`, is exit 78 (the unit's
 * RestartPreventExitStatus=) and one short line naming the setting: never a stack trace or a page
 * of source. `--check` predicts `serve` without acting: it creates nothing and says what serve
 * would create. A CAAS_* variable that is no setting is a warning, not silence.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { datedCertificate, type DatedCertificate } from "./certificates.ts";
import { cli, makeTestPki, startCaas, tempDir, type CliRun, type TestPki } from "./harness.ts";
import { README_USER } from "../../support/constants.ts";

let pki: TestPki;
let other: TestPki;
let files: string;
let expired: DatedCertificate;
let future: DatedCertificate;
let soon: DatedCertificate;

beforeAll(async () => {
  files = tempDir("caas-startup-");
  mkdirSync(join(files, "pki"));
  mkdirSync(join(files, "other"));
  pki = makeTestPki(join(files, "pki"), "server");
  other = makeTestPki(join(files, "other"), "other");
  expired = await datedCertificate(files, "expired", -30, -1);
  future = await datedCertificate(files, "future", 2, 30);
  soon = await datedCertificate(files, "soon", -1, 10);
  writeFileSync(join(files, "unknown-key.toml"), 'port = 8443\nlisten_adress = "0.0.0.0"\n');
  writeFileSync(join(files, "bad-ca.pem"), `${pki.caCertPem}-----BEGIN CERTIFICATE-----\nMIIBfoo\n-----END CERTIFICATE-----\n`);
  writeFileSync(join(files, "open-secret.json"), "{}");
  chmodSync(join(files, "open-secret.json"), 0o644);
  writeFileSync(join(files, "bad-secret.json"), "not json", { mode: 0o600 });
  writeFileSync(join(files, "open-keys.json"), "{}");
  chmodSync(join(files, "open-keys.json"), 0o666);
  mkdirSync(join(files, "open-state"));
  chmodSync(join(files, "open-state"), 0o777);
  writeFileSync(join(files, "state-is-a-file"), "");
});
afterAll(() => {
  rmSync(files, { recursive: true, force: true });
});

/** dist/caas in `home` with nothing but PATH, HOME and the given variables; killed if it is still running after 10 s. */
const run = (args: string[], env: Record<string, string> = {}, home = files) => cli(args, { cwd: home, env });

const lines = (text: string) => text.split("\n").filter((line) => line !== "");

type Mode = "serve" | "serve --workers 2" | "serve --check";
const MODES: readonly Mode[] = ["serve", "serve --workers 2", "serve --check"];
const modeArgs = (mode: Mode) =>
  mode === "serve" ? ["serve"] : mode === "serve --check" ? ["serve", "--check"] : ["serve", "--workers", "2"];

interface Mistake {
  readonly name: string;
  readonly args: () => string[];
  readonly env?: () => Record<string, string>;
  /** What the one line must say, after "caas serve: ". */
  readonly says: RegExp;
}

const tlsArgs = () => ["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey];
const withState = () => ({ CAAS_STATE_DIR: join(files, "state") });

const MISTAKES: readonly Mistake[] = [
  { name: "a port that is not a number", args: () => [...tlsArgs(), "--port", "abc"], says: /^--port: 'abc' is not a whole number$/ },
  {
    name: "a port out of range",
    args: () => [...tlsArgs()],
    env: () => ({ CAAS_PORT: "70000" }),
    says: /^CAAS_PORT: 70000 is outside 0\.\.65535$/,
  },
  {
    name: "an unknown log level",
    args: () => [...tlsArgs(), "--log-level", "loud"],
    says: /^--log-level: 'loud' is not one of debug, info, warn, error$/,
  },
  {
    name: "an unknown TLS version",
    args: () => [...tlsArgs(), "--tls-min-version", "1.1"],
    says: /^--tls-min-version: '1\.1' is not 1\.2 or 1\.3$/,
  },
  { name: "a body limit too small", args: () => [...tlsArgs(), "--max-body", "1"], says: /^--max-body: 1 is outside / },
  { name: "no workers", args: () => [...tlsArgs(), "--workers", "0"], says: /^--workers: 0 is outside / },
  {
    name: "an ops listener that is not host:port",
    args: () => [...tlsArgs()],
    env: () => ({ CAAS_OPS_LISTEN: "9464" }),
    says: /^CAAS_OPS_LISTEN: '9464' is not host:port or off$/,
  },
  {
    name: "an ops listener port out of range",
    args: () => [...tlsArgs()],
    env: () => ({ CAAS_OPS_LISTEN: "127.0.0.1:70000" }),
    says: /^CAAS_OPS_LISTEN: '127\.0\.0\.1:70000' is not host:port or off$/,
  },
  {
    name: "a negative drain timeout",
    args: () => [...tlsArgs()],
    env: () => ({ CAAS_DRAIN_TIMEOUT: "-1" }),
    says: /^CAAS_DRAIN_TIMEOUT: '-1' is not a whole number$/,
  },
  {
    name: "a missing certificate file",
    args: () => ["--tls-cert", join(files, "absent.pem"), "--tls-key", pki.serverKey],
    says: /^--tls-cert: file '.*absent\.pem' does not exist$/,
  },
  {
    name: "a missing client CA file",
    args: () => [...tlsArgs(), "--tls-client-ca", join(files, "absent-ca.pem")],
    says: /^--tls-client-ca: file '.*absent-ca\.pem' does not exist$/,
  },
  {
    name: "a missing secret file",
    args: () => [...tlsArgs(), "--secret-file", join(files, "absent-secret.json")],
    says: /^--secret-file: file '.*' does not exist$/,
  },
  {
    name: "a missing keys file",
    args: () => [...tlsArgs(), "--api-keys-file", join(files, "absent-keys.json")],
    says: /^--api-keys-file: file '.*' does not exist$/,
  },
  {
    name: "a missing config file",
    args: () => ["--config", join(files, "absent.toml")],
    says: /^--config: file '.*absent\.toml' does not exist$/,
  },
  {
    name: "an unknown key in the config file",
    args: () => [...tlsArgs(), "--config", join(files, "unknown-key.toml")],
    says: /unknown-key\.toml: unknown setting 'listen_adress'$/,
  },
  {
    name: "a certificate without its key",
    args: () => ["--tls-cert", pki.serverCert],
    says: /^CAAS_TLS_CERT and CAAS_TLS_KEY: set both or neither$/,
  },
  {
    name: "a key file given as the certificate",
    args: () => ["--tls-cert", pki.serverKey, "--tls-key", pki.serverKey],
    says: /^CAAS_TLS_CERT: '.*' holds no PEM certificate$/,
  },
  {
    name: "a certificate and a key that do not match",
    args: () => ["--tls-cert", pki.serverCert, "--tls-key", other.serverKey],
    says: /^CAAS_TLS_KEY: '.*other\.key' is not the private key of the certificate in '.*server\.pem'$/,
  },
  {
    name: "an expired certificate",
    args: () => ["--tls-cert", expired.cert, "--tls-key", expired.key],
    says: /^CAAS_TLS_CERT: '.*expired\.pem' expired on \d{4}-\d\d-\d\dT/,
  },
  {
    name: "a certificate not yet valid",
    args: () => ["--tls-cert", future.cert, "--tls-key", future.key],
    says: /^CAAS_TLS_CERT: '.*future\.pem' is not valid before \d{4}-/,
  },
  {
    name: "a client CA file with no certificate in it",
    args: () => [...tlsArgs(), "--tls-client-ca", pki.serverKey],
    says: /^CAAS_TLS_CLIENT_CA: '.*' holds no PEM certificate$/,
  },
  {
    name: "a client CA bundle with a malformed certificate",
    args: () => [...tlsArgs(), "--tls-client-ca", join(files, "bad-ca.pem")],
    says: /^CAAS_TLS_CLIENT_CA: '.*bad-ca\.pem': certificate 2 of 2 is not valid \(.+\)$/,
  },
  {
    name: "a client CA with an ad-hoc certificate",
    args: () => ["--tls-client-ca", pki.serverKey],
    says: /^CAAS_TLS_CLIENT_CA: '.*' holds no PEM certificate$/,
  },
  {
    name: "a secret file others can read",
    args: () => [...tlsArgs(), "--secret-file", join(files, "open-secret.json")],
    says: /^CAAS_SECRET_FILE: .*open-secret\.json is accessible to group or others \(mode 0644\)/,
  },
  {
    name: "a secret file that is not one",
    args: () => [...tlsArgs(), "--secret-file", join(files, "bad-secret.json")],
    says: /^CAAS_SECRET_FILE: secret file .* is not a valid caas secret file: not JSON$/,
  },
  {
    name: "a keys file others can write",
    args: () => [...tlsArgs(), "--api-keys-file", join(files, "open-keys.json")],
    says: /^CAAS_API_KEYS_FILE: .*open-keys\.json .*mode 0666/,
  },
  {
    name: "a state directory others can write",
    args: () => [...tlsArgs()],
    env: () => ({ CAAS_STATE_DIR: join(files, "open-state") }),
    says: /^CAAS_STATE_DIR: .*open-state is a directory group or others can write \(mode 0777\)/,
  },
  {
    name: "a state directory that is a file",
    args: () => [...tlsArgs()],
    env: () => ({ CAAS_STATE_DIR: join(files, "state-is-a-file") }),
    says: /^CAAS_STATE_DIR: .*state-is-a-file/,
  },
  {
    name: "a state directory that cannot be made",
    args: () => [...tlsArgs()],
    env: () => ({ CAAS_STATE_DIR: join(files, "state-is-a-file", "below") }),
    says: /^CAAS_STATE_DIR: .*state-is-a-file\/below/,
  },
];

describe("every configuration mistake: exit 78 and one short line, never source or a stack trace", () => {
  for (const mistake of MISTAKES) {
    for (const mode of MODES) {
      it(`${mistake.name} (${mode})`, () => {
        // Port 0, so that a mistake caas misses shows up as a server that starts (and is stopped by run's timeout).
        const result = run([...modeArgs(mode), ...mistake.args()], { ...withState(), CAAS_PORT: "0", ...mistake.env?.() });
        expect(result.code).toBe(78);
        expectOneLine(result, mistake.says);
      });
    }
  }
});

/** The error is one line on stderr; stdout holds nothing but the JSON log lines written before it. */
function expectOneLine(result: CliRun, says: RegExp): void {
  const errors = lines(result.stderr);
  expect(errors).toHaveLength(1);
  expect(errors[0]!.startsWith("caas serve: ")).toBe(true);
  expect(errors[0]!.slice("caas serve: ".length)).toMatch(says);
  expect(Buffer.byteLength(result.stderr)).toBeLessThan(300);
  for (const line of lines(result.stdout)) expect(() => JSON.parse(line)).not.toThrow();
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/^\s+at /m);
  expect(result.stdout).not.toContain("configuration ok");
}

describe("a port another process holds", () => {
  it("is exit 78 and one line, with and without workers", () => {
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      for (const mode of ["serve", "serve --workers 2"] as const) {
        const result = run([...modeArgs(mode), ...tlsArgs(), "--port", String(holder.port)], withState());
        expect(result.code).toBe(78);
        expectOneLine(result, new RegExp(`^CAAS_PORT: cannot listen on 127\\.0\\.0\\.1:${holder.port} \\(address already in use\\)$`));
      }
    } finally {
      holder.stop(true);
    }
  });
});

/** What --check says when a configured certificate (production) comes with no keys file: no key is made for it. */
const EVERY_KEY_REFUSED =
  "no API keys file (CAAS_API_KEYS_FILE): every API key will be refused; the pseudonym (/encrypt, /encode, /verify) and keyring routes answer 401";

describe("serve --check is a dry run", () => {
  it("creates no state directory, says what serve would create, and serve then creates just that", async () => {
    const state = join(tempDir("caas-dry-"), "state");
    const checked = run(["serve", "--check", ...tlsArgs()], { CAAS_STATE_DIR: state });
    expect(checked.code).toBe(0);
    expect(checked.stderr).toBe("");
    expect(lines(checked.stdout)).toEqual([
      `would create ${state} (directory, mode 0700)`,
      `would create ${state}/secret.json (a new secret, mode 0600)`,
      EVERY_KEY_REFUSED,
      "configuration ok",
    ]);
    expect(existsSync(state)).toBe(false);

    const served = await startCaas({ pki, env: { CAAS_STATE_DIR: state } });
    try {
      expect(readdirSync(state)).toEqual(["secret.json"]);
    } finally {
      await served.stop();
    }
  });

  it("leaves an empty state directory empty", () => {
    const state = tempDir("caas-dry-empty-");
    chmodSync(state, 0o700);
    const checked = run(["serve", "--check", ...tlsArgs()], { CAAS_STATE_DIR: state });
    expect(checked.code).toBe(0);
    expect(lines(checked.stdout)).toEqual([
      `would create ${state}/secret.json (a new secret, mode 0600)`,
      EVERY_KEY_REFUSED,
      "configuration ok",
    ]);
    expect(readdirSync(state)).toEqual([]);
    rmSync(state, { recursive: true, force: true });
  });

  it("says it would make an ad-hoc certificate when none is configured, and writes nothing for it", () => {
    const home = tempDir("caas-dry-home-");
    const checked = run(["serve", "--check"], {}, home);
    expect(checked.code).toBe(0);
    expect(lines(checked.stdout)[0]).toStartWith("would create an ad-hoc self-signed certificate in memory");
    expect(checked.stdout).toContain(`would create ${join(home, ".local/state/caas")} (directory, mode 0700)`);
    expect(readdirSync(home)).toEqual([]);
    rmSync(home, { recursive: true, force: true });
  });
});

describe("warnings that do not stop start-up", () => {
  it("a certificate that expires within 30 days: a warning line from --check, a log line from serve", async () => {
    const checked = run(["serve", "--check", "--tls-cert", soon.cert, "--tls-key", soon.key], withState());
    expect(checked.code).toBe(0);
    expect(lines(checked.stderr)).toEqual([
      expect.stringMatching(/^caas serve: warning: CAAS_TLS_CERT: '.*soon\.pem' expires on \d{4}-.* \(in \d days\)$/),
    ]);
    const served = await startCaas({ pki, env: { CAAS_TLS_CERT: soon.cert, CAAS_TLS_KEY: soon.key }, trust: "" });
    try {
      expect(served.output()).toMatch(/"level":"warn","event":"certificate_expires_soon"[^\n]*"daysLeft":\d/);
    } finally {
      await served.stop();
    }
  });

  it("a CAAS_* variable that is no setting: named with the closest setting, by --check and once by serve", async () => {
    const checked = run(["serve", "--check", ...tlsArgs()], { ...withState(), CAAS_PROT: "8443" });
    expect(checked.code).toBe(0);
    expect(lines(checked.stderr)).toEqual(["caas serve: warning: CAAS_PROT is not a setting and is ignored (did you mean CAAS_PORT?)"]);
    for (const workers of ["1", "2"]) {
      const served = await startCaas({ pki, env: { CAAS_PROT: "8443", CAAS_WORKERS: workers } });
      try {
        while ((served.output().match(/"event":"listening"/g)?.length ?? 0) < Number(workers)) await Bun.sleep(10);
        const warnings = served.output().match(/"event":"unknown_variable"[^\n]*/g) ?? [];
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toContain('"variable":"CAAS_PROT","closest":"CAAS_PORT"');
      } finally {
        await served.stop();
      }
    }
  });

  it("none for the variables caas sets itself: a supervisor's workers start without one", async () => {
    const served = await startCaas({ pki, env: { CAAS_WORKERS: "2" } });
    try {
      while ((served.output().match(/"event":"listening"/g)?.length ?? 0) < 2) await Bun.sleep(10);
      expect(served.output()).not.toContain("unknown_variable");
    } finally {
      await served.stop();
    }
  });
});

describe("development mode (no certificate configured)", () => {
  it("--check names the development files and creates none; serve creates them, and the key and certificate work", async () => {
    const state = join(tempDir("caas-dev-"), "state");
    const checked = run(["serve", "--check"], { CAAS_STATE_DIR: state });
    expect(checked.code).toBe(0);
    expect(lines(checked.stdout)).toEqual([
      "would create an ad-hoc self-signed certificate in memory (development only; set CAAS_TLS_CERT and CAAS_TLS_KEY)",
      `would write its public half to ${state}/dev-certificate.pem`,
      `would create ${state} (directory, mode 0700)`,
      `would create ${state}/secret.json (a new secret, mode 0600)`,
      `would create ${state}/dev-api-key (a development API key, mode 0600)`,
      `would create ${state}/dev-root-key (a development root key, mode 0600)`,
      `would create ${state}/dev-keyring.json (a development keyring with keys 'dev', 'dev-jwt', 'dev-hmac', mode 0600)`,
      "configuration ok",
    ]);
    expect(existsSync(state)).toBe(false);

    for (const start of ["first", "second"]) {
      const served = await startCaas({ pki, env: { CAAS_STATE_DIR: state, CAAS_TLS_CERT: "", CAAS_TLS_KEY: "" } });
      try {
        expect(
          readdirSync(state)
            .filter((name) => !name.startsWith("."))
            .sort(),
        ).toEqual(["dev-api-key", "dev-certificate.pem", "dev-keyring.json", "dev-root-key", "secret.json"]);
        const key = readFileSync(join(state, "dev-api-key"), "utf8").trim();
        expect(served.output()).toContain(`"event":"${start === "first" ? "dev_api_key_created" : "dev_api_key"}"`);
        expect(served.output()).not.toContain(key);
        // Trusting the published certificate is enough: no verification turned off.
        const answer = await fetch(`${served.url}/encrypt`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
          body: JSON.stringify({ userUUID: README_USER, sensitiveData: "x" }),
          tls: { ca: readFileSync(join(state, "dev-certificate.pem"), "utf8") },
        } as RequestInit);
        expect(answer.status).toBe(200);
      } finally {
        await served.stop();
      }
    }
  });

  it("is never entered with a certificate configured: no development key, every key refused", async () => {
    const state = join(tempDir("caas-prod-"), "state");
    const served = await startCaas({ pki, env: { CAAS_STATE_DIR: state } });
    try {
      expect(readdirSync(state)).toEqual(["secret.json"]);
      expect(served.output()).toContain('"event":"no_api_keys"');
      const answer = await served.post(
        "/encrypt",
        { userUUID: README_USER, sensitiveData: "x" },
        { authorization: "Bearer caas_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
      );
      expect(answer.status).toBe(401);
    } finally {
      await served.stop();
    }
  });
});
