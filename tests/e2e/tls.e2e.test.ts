/**
 * The TLS policy of dist/caas as a scanner sees it: sslscan (Debian's `sslscan`, which .ci/run
 * installs) lists every protocol and suite the listener accepts, and openssl s_client tries the
 * versions that must be refused. Skipped, with a message, where the tools are absent.
 *
 * An RSA certificate is scanned as well as the harness's ECDSA one: with RSA, a server left to
 * its defaults also accepts static-RSA key exchange (AES128-GCM-SHA256: no forward secrecy) and
 * CBC suites, which is exactly what the policy must shut out.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { TLS12_CIPHERS, TLS13_CIPHERS } from "../../src/server/tls/policy.ts";
import { makeTestPki, startCaas, tempDir, type RunningCaas, type TestPki } from "./harness.ts";

const hasSslscan = Bun.which("sslscan") !== null;
const hasOpenssl = Bun.which("openssl") !== null;
if (!hasSslscan) console.warn("tls.e2e: sslscan is not installed (apt-get install sslscan); the scan tests are skipped");

interface Scan {
  readonly protocols: ReadonlyMap<string, boolean>;
  /** "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256", one per accepted suite. */
  readonly suites: readonly string[];
  readonly text: string;
}

function sslscan(port: number): Scan {
  const result = Bun.spawnSync(
    ["sslscan", "--no-colour", "--no-heartbleed", "--no-compression", "--no-groups", "--no-check-certificate", `127.0.0.1:${port}`],
    { stdout: "pipe", stderr: "pipe", timeout: 60_000 },
  );
  const text = result.stdout.toString();
  const protocols = new Map<string, boolean>();
  for (const match of text.matchAll(/^(SSLv2|SSLv3|TLSv1\.[0-3])\s+(enabled|disabled)\s*$/gm))
    protocols.set(match[1]!, match[2] === "enabled");
  const suites = [...text.matchAll(/^(?:Preferred|Accepted)\s+(\S+)\s+\d+ bits\s+(\S+)/gm)].map((match) => `${match[1]} ${match[2]}`);
  if (protocols.size === 0) throw new Error(`sslscan printed no protocol table:\n${text}\n${result.stderr.toString()}`);
  return { protocols, suites, text };
}

/** Whether openssl s_client completes a handshake with exactly this version. */
function handshakes(
  port: number,
  version: "-tls1" | "-tls1_1" | "-tls1_2" | "-tls1_3",
  extra: string[] = [],
): { ok: boolean; output: string } {
  const result = Bun.spawnSync(
    // SECLEVEL=0 so that it is the server that refuses an old version, not our own client.
    ["openssl", "s_client", "-connect", `127.0.0.1:${port}`, version, "-cipher", "DEFAULT:@SECLEVEL=0", ...extra],
    { stdin: new TextEncoder().encode("Q\n"), stdout: "pipe", stderr: "pipe", timeout: 15_000 },
  );
  const output = result.stdout.toString() + result.stderr.toString();
  // "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" on success; "New, (NONE), Cipher is (NONE)" on refusal.
  return { ok: /^New, TLSv1\.[0-3], Cipher is (?!\(NONE\))\S+/m.test(output), output };
}

function rsaPki(): TestPki {
  const dir = tempDir("caas-rsa-");
  const key = join(dir, "rsa.key");
  const cert = join(dir, "rsa.pem");
  const made = Bun.spawnSync(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdout: "ignore", stderr: "pipe" },
  );
  if (made.exitCode !== 0) throw new Error(made.stderr.toString());
  const pem = Bun.spawnSync(["cat", cert]).stdout.toString();
  return { dir, caCert: cert, caCertPem: pem, serverCert: cert, serverKey: key };
}

const running: RunningCaas[] = [];
async function start(env: Record<string, string> = {}, pki?: TestPki): Promise<RunningCaas> {
  const caas = await startCaas({ env, ...(pki === undefined ? {} : { pki }) });
  running.push(caas);
  return caas;
}
afterAll(async () => {
  await Promise.all(running.map((caas) => caas.stop()));
});

const allowed12 = new Set(TLS12_CIPHERS.map((name) => `TLSv1.2 ${name}`));
const allowed13 = new Set(TLS13_CIPHERS.map((name) => `TLSv1.3 ${name}`));

describe.skipIf(!hasSslscan)("TLS policy, scanned with sslscan", () => {
  for (const [label, pki] of [
    ["ECDSA certificate", undefined],
    ["RSA certificate", "rsa"],
  ] as const) {
    it(`offers only TLS 1.2 and 1.3, with forward-secret AEAD suites in 1.2 (${label})`, async () => {
      const caas = await start({}, pki === "rsa" ? rsaPki() : makeTestPki());
      const scan = sslscan(caas.port);
      expect({
        SSLv2: scan.protocols.get("SSLv2"),
        SSLv3: scan.protocols.get("SSLv3"),
        "TLSv1.0": scan.protocols.get("TLSv1.0"),
        "TLSv1.1": scan.protocols.get("TLSv1.1"),
      }).toEqual({
        SSLv2: false,
        SSLv3: false,
        "TLSv1.0": false,
        "TLSv1.1": false,
      });
      expect(scan.protocols.get("TLSv1.2")).toBe(true);
      expect(scan.protocols.get("TLSv1.3")).toBe(true);
      const tls12 = scan.suites.filter((suite) => suite.startsWith("TLSv1.2 "));
      expect(tls12.length).toBeGreaterThan(0);
      expect(tls12.filter((suite) => !allowed12.has(suite))).toEqual([]);
      for (const suite of tls12)
        expect(suite).toMatch(/^TLSv1\.2 ECDHE-(?:ECDSA|RSA)-(?:AES(?:128|256)-GCM-SHA(?:256|384)|CHACHA20-POLY1305)$/);
      const tls13 = scan.suites.filter((suite) => suite.startsWith("TLSv1.3 "));
      expect(tls13.length).toBeGreaterThan(0);
      expect(tls13.filter((suite) => !allowed13.has(suite))).toEqual([]);
      expect(scan.suites.filter((suite) => !suite.startsWith("TLSv1.2 ") && !suite.startsWith("TLSv1.3 "))).toEqual([]);
    });
  }

  it("offers TLS 1.3 alone with CAAS_TLS_MIN_VERSION=1.3", async () => {
    const caas = await start({ CAAS_TLS_MIN_VERSION: "1.3" });
    const scan = sslscan(caas.port);
    expect(scan.protocols.get("TLSv1.2")).toBe(false);
    expect(scan.protocols.get("TLSv1.3")).toBe(true);
    expect(scan.suites.length).toBeGreaterThan(0);
    expect(scan.suites.filter((suite) => !allowed13.has(suite))).toEqual([]);
  });
});

describe.skipIf(!hasOpenssl)("TLS versions, tried with openssl s_client", () => {
  it("refuses TLS 1.0 and 1.1 and completes TLS 1.2 and 1.3", async () => {
    const caas = await start();
    expect(handshakes(caas.port, "-tls1_1").ok).toBe(false);
    expect(handshakes(caas.port, "-tls1").ok).toBe(false);
    expect(handshakes(caas.port, "-tls1_2").ok).toBe(true);
    expect(handshakes(caas.port, "-tls1_3").ok).toBe(true);
  });

  it("refuses a TLS 1.2 client offering only CBC or static-RSA suites", async () => {
    const caas = await start({}, rsaPki());
    for (const suite of ["ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256", "AES256-SHA256"]) {
      const attempt = handshakes(caas.port, "-tls1_2", ["-cipher", `${suite}:@SECLEVEL=0`]);
      expect({ suite, ok: attempt.ok }).toEqual({ suite, ok: false });
    }
    expect(handshakes(caas.port, "-tls1_2", ["-cipher", "ECDHE-RSA-CHACHA20-POLY1305"]).ok).toBe(true);
  });

  it("refuses TLS 1.2 with CAAS_TLS_MIN_VERSION=1.3", async () => {
    const caas = await start({ CAAS_TLS_MIN_VERSION: "1.3" });
    expect(handshakes(caas.port, "-tls1_2").ok).toBe(false);
    expect(handshakes(caas.port, "-tls1_3").ok).toBe(true);
  });

  it("answers with Strict-Transport-Security", async () => {
    const caas = running[0] ?? (await start());
    const answer = await caas.request("/healthz");
    expect(answer.headers.get("strict-transport-security")).toMatch(/^max-age=\d{7,}/);
  });
});
