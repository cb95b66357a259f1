/**
 * The TLS material a listener is made from (certificate chain, private key, client CA bundle),
 * checked the way the listener will use it, so a mistake stops start-up with one line naming
 * the setting instead of surfacing as a TLS library error inside Bun.serve.
 *
 * The type is derived from one schema, and a worker receives it from its supervisor serialized
 * whole and checked against that schema: a field added later travels to workers by itself.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { ConfigError } from "../../config.ts";

export const TlsMaterialSchema = Type.Object(
  {
    cert: Type.String({ minLength: 1 }),
    key: Type.String({ minLength: 1 }),
    /** When present, the handshake refuses a client without a certificate this bundle signed. */
    clientCa: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type TlsMaterial = Readonly<Static<typeof TlsMaterialSchema>>;

export function serializeTlsMaterial(material: TlsMaterial): string {
  return JSON.stringify(material);
}

/** Undefined when the text is not TLS material: the sender and receiver disagree, or the text was cut. */
export function parseTlsMaterial(text: string): TlsMaterial | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return Value.Check(TlsMaterialSchema, parsed) ? parsed : undefined;
}

/** Where the material came from, for messages: the setting and file of each part. */
export interface TlsSources {
  readonly cert?: { readonly setting: string; readonly path: string };
  readonly key?: { readonly setting: string; readonly path: string };
  readonly clientCa?: { readonly setting: string; readonly path: string };
}

/** A certificate this close to its end still starts, with a warning. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

export interface TlsWarning {
  readonly event: "certificate_expires_soon";
  readonly message: string;
  readonly notAfter: string;
  readonly daysLeft: number;
}

function describe(source: { readonly setting: string; readonly path: string } | undefined, fallback: string): string {
  return source === undefined ? fallback : `${source.setting}: '${source.path}'`;
}

/** OpenSSL's reason, without its "error:0b000074:X.509 certificate routines:OPENSSL_internal:" prefix. */
export function tlsReason(error: unknown): string {
  const message = error instanceof Error ? error.message : "";
  const reason = message.split(":").at(-1)?.trim() ?? "";
  return (reason || "unknown error").slice(0, 120);
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Checks that the listener can be built from this material and that it is worth building:
 * the key belongs to the certificate, the certificate is valid now, and the client CA bundle
 * holds certificates only. Returns warnings (a certificate close to its end); throws a
 * ConfigError naming the setting for anything that would fail or refuse every client.
 * Whatever else the TLS library refuses is found by checkUsableForTls or by the listener itself.
 */
export function checkTlsMaterial(material: TlsMaterial, sources: TlsSources, now: Date = new Date()): TlsWarning[] {
  const certName = describe(sources.cert, "the ad-hoc certificate");
  const keyName = describe(sources.key, "the ad-hoc key");
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(material.cert);
  } catch (error) {
    throw new ConfigError(`${certName} is not a valid PEM certificate (${tlsReason(error)})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(material.key);
  } catch (error) {
    throw new ConfigError(`${keyName} is not a valid PEM private key (${tlsReason(error)})`);
  }
  if (key.type !== "private" || !certificate.checkPrivateKey(key)) {
    throw new ConfigError(
      `${keyName} is not the private key of the certificate in ${sources.cert?.path === undefined ? certName : `'${sources.cert.path}'`}`,
    );
  }

  const notBefore = certificate.validFromDate;
  const notAfter = certificate.validToDate;
  if (now.getTime() < notBefore.getTime()) throw new ConfigError(`${certName} is not valid before ${notBefore.toISOString()}`);
  if (now.getTime() > notAfter.getTime()) throw new ConfigError(`${certName} expired on ${notAfter.toISOString()}`);
  const warnings: TlsWarning[] = [];
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
  if (daysLeft < EXPIRY_WARNING_DAYS && sources.cert !== undefined) {
    warnings.push({
      event: "certificate_expires_soon",
      message: `${certName} expires on ${notAfter.toISOString()} (in ${daysLeft} days)`,
      notAfter: notAfter.toISOString(),
      daysLeft,
    });
  }

  if (material.clientCa !== undefined) {
    const caName = describe(sources.clientCa, "the client CA");
    const blocks = material.clientCa.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) throw new ConfigError(`${caName} holds no PEM certificate`);
    blocks.forEach((block, index) => {
      try {
        new X509Certificate(block);
      } catch (error) {
        throw new ConfigError(`${caName}: certificate ${index + 1} of ${blocks.length} is not valid (${tlsReason(error)})`);
      }
    });
  }

  return warnings;
}

/**
 * Builds a TLS context from the material with the library Bun.serve builds its own with, so
 * whatever the listener would refuse is refused here. For whoever binds nothing with it (--check,
 * a supervisor); a process that listens next lets its listener be this check (bind.ts,
 * listen) rather than load node:tls to build the same context twice.
 */
export async function checkUsableForTls(material: TlsMaterial, sources: TlsSources): Promise<void> {
  const { createSecureContext } = await import("node:tls");
  try {
    createSecureContext({ cert: material.cert, key: material.key, ...(material.clientCa === undefined ? {} : { ca: material.clientCa }) });
  } catch (error) {
    const names = [describe(sources.cert, "the ad-hoc certificate"), describe(sources.key, "the ad-hoc key")];
    if (material.clientCa !== undefined) names.push(describe(sources.clientCa, "the client CA"));
    throw new ConfigError(`${names.join(", ")}: not usable for TLS (${tlsReason(error)})`);
  }
}

/** When the leaf certificate of `cert` (PEM) expires, in seconds since the epoch; undefined if it does not parse. */
export function certificateExpiry(cert: string): number | undefined {
  try {
    return new X509Certificate(cert).validToDate.getTime() / 1000;
  } catch {
    return undefined;
  }
}
