/**
 * The ad-hoc development certificate, written as DER by caas itself: read back by the TLS
 * library's own X.509 parser, and used by a real TLS listener that a client verifying the
 * certificate and the host name reaches at localhost, 127.0.0.1 and [::1].
 */
import { describe, expect, it } from "bun:test";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createAdhocCertificate } from "../../src/server/tls/adhoc.ts";
import { checkTlsMaterial } from "../../src/server/tls/material.ts";

const made = await createAdhocCertificate();
const certificate = new X509Certificate(made.cert);

describe("the ad-hoc certificate", () => {
  it("is a self-signed P-256 certificate for localhost, 127.0.0.1 and ::1, valid from a minute ago for 30 days", () => {
    expect(certificate.subject).toBe("CN=caas ad-hoc development certificate");
    expect(certificate.issuer).toBe(certificate.subject);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(certificate.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect(certificate.ca).toBe(false);
    expect(certificate.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
    const now = Date.now();
    expect(now - certificate.validFromDate.getTime()).toBeGreaterThanOrEqual(59_000);
    expect(now - certificate.validFromDate.getTime()).toBeLessThan(120_000);
    expect(certificate.validToDate.getTime() - certificate.validFromDate.getTime()).toBe(30 * 86_400_000);
  });

  it("comes with its private key and its SHA-256 fingerprint, and passes the start-up checks", () => {
    expect(certificate.checkPrivateKey(createPrivateKey(made.key))).toBe(true);
    expect(made.sha256Fingerprint).toBe(certificate.fingerprint256);
    expect(checkTlsMaterial({ cert: made.cert, key: made.key }, {})).toEqual([]);
  });

  it("is new each time: another key and serial number", async () => {
    const again = await createAdhocCertificate();
    expect(again.key).not.toBe(made.key);
    expect(new X509Certificate(again.cert).serialNumber).not.toBe(certificate.serialNumber);
  });

  it("serves TLS to a client that trusts it and checks the host name", async () => {
    const server = Bun.serve({ hostname: "::", port: 0, tls: { cert: made.cert, key: made.key }, fetch: () => new Response("ok") });
    try {
      for (const host of ["localhost", "127.0.0.1", "[::1]"]) {
        const response = await fetch(`https://${host}:${server.port}/`, { tls: { ca: made.cert } } as RequestInit);
        expect(await response.text()).toBe("ok");
      }
    } finally {
      server.stop(true);
    }
  });
});
