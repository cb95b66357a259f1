/**
 * The TLS material a listener is built from: handed from supervisor to worker whole, and checked
 * at start-up the way Bun.serve will use it, so a mistake is one ConfigError naming the setting.
 */
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { ConfigError, defaultConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { readCredentialSources } from "../../src/credentials/holder.ts";
import { startServer } from "../../src/server/listener.ts";
import {
  checkTlsMaterial,
  checkUsableForTls,
  parseTlsMaterial,
  serializeTlsMaterial,
  type TlsMaterial,
} from "../../src/server/tls/material.ts";
import { datedCertificate } from "../e2e/certificates.ts";
import { makeTestPki } from "../../support/test-pki.ts";
import { scratchDirectories } from "./scratch.ts";

const scratch = scratchDirectories("caas-tls-material-");
const pki = makeTestPki(await scratch());
const other = makeTestPki(await scratch());
const read = (path: string) => readFileSync(path, "utf8");
const configured = { cert: { setting: "CAAS_TLS_CERT", path: pki.serverCert }, key: { setting: "CAAS_TLS_KEY", path: pki.serverKey } };

function configError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error("expected a ConfigError");
}

describe("the supervisor-to-worker handoff", () => {
  it("carries every field of the material, the client CA included", () => {
    // Required<>: a field added to TlsMaterial does not compile here until this test carries it too.
    const full: Required<TlsMaterial> = { cert: read(pki.serverCert), key: read(pki.serverKey), clientCa: pki.caCertPem };
    expect(parseTlsMaterial(serializeTlsMaterial(full))).toEqual(full);
  });

  it("is one line, so the pipe can stay open after it", () => {
    expect(serializeTlsMaterial({ cert: read(pki.serverCert), key: read(pki.serverKey), clientCa: pki.caCertPem })).not.toContain("\n");
  });

  it("refuses text that is not the material rather than serve with part of it", () => {
    for (const text of ["", "{", "null", '{"cert":"x"}', '{"cert":"x","key":"y","clientCa":5}', '{"cert":"x","key":"y","extra":"z"}']) {
      expect(parseTlsMaterial(text)).toBeUndefined();
    }
  });
});

describe("checking the material at start-up", () => {
  it("accepts a certificate with its own key and a CA bundle, with no warning", () => {
    expect(checkTlsMaterial({ cert: read(pki.serverCert), key: read(pki.serverKey), clientCa: pki.caCertPem }, configured)).toEqual([]);
  });

  it("refuses a key that is not the certificate's, naming both files", () => {
    const message = configError(() =>
      checkTlsMaterial(
        { cert: read(pki.serverCert), key: read(other.serverKey) },
        { ...configured, key: { setting: "CAAS_TLS_KEY", path: other.serverKey } },
      ),
    );
    expect(message).toBe(`CAAS_TLS_KEY: '${other.serverKey}' is not the private key of the certificate in '${pki.serverCert}'`);
  });

  it("refuses an expired certificate and one not yet valid", async () => {
    const dir = await scratch();
    const expired = await datedCertificate(dir, "expired", -10, -1);
    const future = await datedCertificate(dir, "future", 1, 10);
    expect(configError(() => checkTlsMaterial({ cert: read(expired.cert), key: read(expired.key) }, configured))).toMatch(
      /^CAAS_TLS_CERT: '.*' expired on \d{4}-/,
    );
    expect(configError(() => checkTlsMaterial({ cert: read(future.cert), key: read(future.key) }, configured))).toMatch(
      /^CAAS_TLS_CERT: '.*' is not valid before \d{4}-/,
    );
  });

  it("warns about a certificate that expires within 30 days, not about one that does not", async () => {
    const dir = await scratch();
    const soon = await datedCertificate(dir, "soon", -1, 12);
    const later = await datedCertificate(dir, "later", -1, 90);
    const warnings = checkTlsMaterial({ cert: read(soon.cert), key: read(soon.key) }, configured);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/^CAAS_TLS_CERT: '.*' expires on \d{4}-.* \(in 1[12] days\)$/);
    expect(checkTlsMaterial({ cert: read(later.cert), key: read(later.key) }, configured)).toEqual([]);
  });

  it("refuses a client CA that holds no certificate, or a malformed one, before Bun.serve fails on it", () => {
    const clientCa = { setting: "CAAS_TLS_CLIENT_CA", path: "/etc/caas/ca.pem" };
    const base = { cert: read(pki.serverCert), key: read(pki.serverKey) };
    const malformed = "-----BEGIN CERTIFICATE-----\nMIIBfoo\n-----END CERTIFICATE-----\n";
    expect(configError(() => checkTlsMaterial({ ...base, clientCa: read(pki.serverKey) }, { ...configured, clientCa }))).toBe(
      "CAAS_TLS_CLIENT_CA: '/etc/caas/ca.pem' holds no PEM certificate",
    );
    expect(configError(() => checkTlsMaterial({ ...base, clientCa: "garbage" }, { ...configured, clientCa }))).toBe(
      "CAAS_TLS_CLIENT_CA: '/etc/caas/ca.pem' holds no PEM certificate",
    );
    expect(configError(() => checkTlsMaterial({ ...base, clientCa: pki.caCertPem + malformed }, { ...configured, clientCa }))).toMatch(
      /^CAAS_TLS_CLIENT_CA: '\/etc\/caas\/ca\.pem': certificate 2 of 2 is not valid \(.+\)$/,
    );
  });

  it("keeps OpenSSL's error codes and source out of every message", () => {
    const message = configError(() =>
      checkTlsMaterial({ cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key: read(pki.serverKey) }, configured),
    );
    expect(message).toMatch(/^CAAS_TLS_CERT: '.*' is not a valid PEM certificate \([^:]+\)$/);
    expect(message.length).toBeLessThan(300);
  });
});

describe("building a TLS context where nothing listens (--check, a supervisor)", () => {
  it("takes a usable pair and client CA", async () => {
    await checkUsableForTls({ cert: read(pki.serverCert), key: read(pki.serverKey), clientCa: pki.caCertPem }, configured);
  });

  it("refuses what the TLS library refuses with one ConfigError naming the settings", async () => {
    const refused = checkUsableForTls({ cert: read(pki.serverCert), key: read(other.serverKey) }, configured);
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toThrow(/^CAAS_TLS_CERT: '.*', CAAS_TLS_KEY: '.*': not usable for TLS \([^:]+\)$/);
  });
});

describe("a listener Bun.serve refuses", () => {
  // loadTlsMaterial refuses all of these first; this holds the listener itself to one ConfigError
  // line for whatever it misses, instead of OpenSSL's error and a page of source.
  const cases: [string, () => TlsMaterial, RegExp][] = [
    ["a key that is not the certificate's", () => ({ cert: read(pki.serverCert), key: read(other.serverKey) }), /\(KEY_VALUES_MISMATCH\)$/],
    [
      "a client CA bundle that starts with a malformed certificate",
      () => ({
        cert: read(pki.serverCert),
        key: read(pki.serverKey),
        clientCa: "-----BEGIN CERTIFICATE-----\nMIIBfoo\n-----END CERTIFICATE-----\n",
      }),
      /\(Failed to create HTTP server\)$/,
    ],
  ];
  for (const [name, material, reason] of cases) {
    it(`is a ConfigError naming the TLS settings: ${name}`, async () => {
      const config = defaultConfig({ port: 0, stateDir: await scratch() });
      const sources = await readCredentialSources(config, silentLogger);
      const started = startServer(config, silentLogger, { role: "worker", handoff: { tls: material(), sources } });
      await expect(started).rejects.toBeInstanceOf(ConfigError);
      await expect(started).rejects.toThrow(
        /^CAAS_TLS_CERT, CAAS_TLS_KEY, CAAS_TLS_CLIENT_CA: cannot listen on 127\.0\.0\.1:0 with this TLS material/,
      );
      await expect(started).rejects.toThrow(reason);
    });
  }
});
