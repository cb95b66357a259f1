/**
 * The ad-hoc certificate for development (the Flask original's ssl_context='adhoc'):
 * a fresh P-256 key and a self-signed certificate for localhost, made in memory at start
 * and never written to disk.
 *
 * The certificate is a fixed shape, so its DER is written here directly and signed with
 * node:crypto: an X.509 library would cost more start-up (about 25 ms to load and first use)
 * than everything else a development start does.
 */
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { der, sequence } from "../../crypto/der.ts";

export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

export interface AdhocCertificate extends PemPair {
  readonly sha256Fingerprint: string;
}

function toPem(label: string, der: Uint8Array): string {
  const body = der.toBase64().replace(/.{64}/g, "$&\n").trimEnd();
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

export function sha256Fingerprint(derCertificate: Uint8Array): string {
  const digest = new Bun.CryptoHasher("sha256").update(derCertificate).digest();
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

const bytes = (...values: number[]) => Uint8Array.from(values);

function oid(dotted: string): Uint8Array {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number);
  const body = [first * 40 + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) base128.unshift(0x80 | (value & 0x7f));
    body.push(...base128);
  }
  return der(0x06, Uint8Array.from(body));
}

/** UTCTime (YYMMDDHHMMSSZ), which RFC 5280 requires for dates before 2050. */
function utcTime(date: Date): Uint8Array {
  const iso = date.toISOString();
  const text = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return der(0x17, new TextEncoder().encode(text));
}

/** An X.509 extension a client must understand to accept the certificate (RFC 5280 4.2). */
function criticalExtension(id: string, value: Uint8Array): Uint8Array {
  return sequence(oid(id), bytes(0x01, 0x01, 0xff), der(0x04, value));
}

/** An X.509 extension a client may ignore. */
function extension(id: string, value: Uint8Array): Uint8Array {
  return sequence(oid(id), der(0x04, value));
}

const ECDSA_WITH_SHA256 = sequence(oid("1.2.840.10045.4.3.2"));
const SUBJECT = sequence(der(0x31, sequence(oid("2.5.4.3"), der(0x0c, new TextEncoder().encode("caas ad-hoc development certificate")))));

export async function createAdhocCertificate(validDays = 30): Promise<AdhocCertificate> {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + validDays * 86_400_000);
  // Positive and without a leading zero: the first byte's high bit clear, and not zero.
  const serial = randomBytes(16);
  serial[0] = 0x10 | (serial[0]! & 0x0f);
  const extensions = [
    // Not a CA.
    criticalExtension("2.5.29.19", sequence()),
    // digitalSignature only.
    criticalExtension("2.5.29.15", der(0x03, bytes(0x07, 0x80))),
    // serverAuth.
    extension("2.5.29.37", sequence(oid("1.3.6.1.5.5.7.3.1"))),
    // localhost, 127.0.0.1 and ::1.
    extension(
      "2.5.29.17",
      sequence(
        der(0x82, new TextEncoder().encode("localhost")),
        der(0x87, bytes(127, 0, 0, 1)),
        der(0x87, bytes(...new Array<number>(15).fill(0), 1)),
      ),
    ),
  ];
  const tbs = sequence(
    der(0xa0, der(0x02, bytes(2))),
    der(0x02, serial),
    ECDSA_WITH_SHA256,
    SUBJECT,
    sequence(utcTime(notBefore), utcTime(notAfter)),
    SUBJECT,
    publicKey.export({ type: "spki", format: "der" }),
    der(0xa3, sequence(...extensions)),
  );
  const signature = sign("sha256", tbs, privateKey);
  const certificate = sequence(tbs, ECDSA_WITH_SHA256, der(0x03, bytes(0), signature));
  return {
    cert: toPem("CERTIFICATE", certificate),
    key: toPem("PRIVATE KEY", privateKey.export({ type: "pkcs8", format: "der" })),
    sha256Fingerprint: sha256Fingerprint(certificate),
  };
}
