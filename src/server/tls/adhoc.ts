/**
 * The ad-hoc certificate for development (the Flask original's ssl_context='adhoc'):
 * a fresh P-256 key and a self-signed certificate for localhost, made in memory at start
 * and never written to disk.
 */

/**
 * @peculiar/x509 resolves its providers through tsyringe, which needs the reflect-metadata
 * polyfill evaluated first. Static imports do not guarantee that order once bundled into the
 * binary, so both are loaded here, in sequence, and only when an ad-hoc certificate is needed.
 */
async function loadX509(): Promise<typeof import("@peculiar/x509")> {
  await import("reflect-metadata");
  return import("@peculiar/x509");
}

export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

export interface AdhocCertificate extends PemPair {
  readonly sha256Fingerprint: string;
}

function toPem(label: string, der: ArrayBuffer): string {
  const body = new Uint8Array(der).toBase64().replace(/.{64}/g, "$&\n").trimEnd();
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

export function sha256Fingerprint(derCertificate: ArrayBuffer): string {
  const digest = new Bun.CryptoHasher("sha256").update(new Uint8Array(derCertificate)).digest();
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

export async function createAdhocCertificate(validDays = 30): Promise<AdhocCertificate> {
  const x509 = await loadX509();
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + validDays * 86_400_000);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: crypto.getRandomValues(new Uint8Array(16)).toHex().replace(/^./, "1"),
    name: "CN=caas ad-hoc development certificate",
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" },
      ]),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    cert: `${certificate.toString("pem")}\n`,
    key: toPem("PRIVATE KEY", pkcs8),
    sha256Fingerprint: sha256Fingerprint(certificate.rawData),
  };
}
