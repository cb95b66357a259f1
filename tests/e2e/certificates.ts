/**
 * TEST FIXTURE: self-signed localhost certificates with a chosen validity window (expired, not
 * yet valid, about to expire), which openssl 3.0's command line cannot make without a CA setup.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface DatedCertificate {
  readonly cert: string;
  readonly key: string;
}

const DAY_MS = 86_400_000;

function toPem(label: string, der: ArrayBuffer): string {
  const body = new Uint8Array(der).toBase64().replace(/.{64}/g, "$&\n").trimEnd();
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** Writes `<name>.pem` and `<name>.key` into `dir`, valid from `fromDays` to `toDays` days from now. */
export async function datedCertificate(dir: string, name: string, fromDays: number, toDays: number): Promise<DatedCertificate> {
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${name}`,
    notBefore: new Date(Date.now() + fromDays * DAY_MS),
    notAfter: new Date(Date.now() + toDays * DAY_MS),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
      ]),
    ],
  });
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  writeFileSync(cert, `${certificate.toString("pem")}\n`);
  writeFileSync(key, toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)));
  return { cert, key };
}
