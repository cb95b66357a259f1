/**
 * The TLS material from the files the settings name (CAAS_TLS_CERT, CAAS_TLS_KEY,
 * CAAS_TLS_CLIENT_CA), or an ad-hoc certificate in development, checked as the listener will use it.
 */
import { readFile } from "node:fs/promises";
import type { Config } from "../../config.ts";
import { ConfigError } from "../../config.ts";
import { isDevelopment, publishDevCertificate } from "../../credentials/development.ts";
import type { Logger } from "../../log.ts";
import { checkTlsMaterial, checkUsableForTls, type TlsMaterial, type TlsSources } from "./material.ts";
import { errnoCode } from "../../files/errno.ts";

async function readPem(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    const reason = errnoCode(error) ?? "unreadable";
    throw new ConfigError(`${setting}: cannot read '${path}' (${reason})`);
  }
}

/**
 * Reads the configured certificate, key and client CA (or makes an ad-hoc certificate) and checks
 * them as the listener will use them (tls/material.ts): a mismatched pair, an expired
 * certificate or a client CA without certificates is a ConfigError, not a TLS error at listen.
 */
export async function loadTlsMaterial(config: Config, logger: Logger, options: TlsLoadOptions = {}): Promise<TlsMaterial> {
  const material = await readTlsMaterial(config, logger);
  if (options.listensNext !== true) await checkUsableForTls(material, sourcesOf(config));
  return material;
}

export interface TlsLoadOptions {
  /**
   * A listener is built from the material right after (a standalone start or reload), and is
   * itself the check that the TLS library takes it: see checkUsableForTls.
   */
  readonly listensNext?: boolean;
}

/** Where the material comes from, for messages; the ad-hoc certificate and key have no file. */
function sourcesOf(config: Config): TlsSources {
  return {
    ...(config.tlsCert === undefined || config.tlsKey === undefined
      ? {}
      : { cert: { setting: "CAAS_TLS_CERT", path: config.tlsCert }, key: { setting: "CAAS_TLS_KEY", path: config.tlsKey } }),
    ...(config.tlsClientCa === undefined ? {} : { clientCa: { setting: "CAAS_TLS_CLIENT_CA", path: config.tlsClientCa } }),
  };
}

async function readTlsMaterial(config: Config, logger: Logger): Promise<TlsMaterial> {
  const clientCa = config.tlsClientCa === undefined ? undefined : await readPem(config.tlsClientCa, "CAAS_TLS_CLIENT_CA");
  const sources = sourcesOf(config);
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    const cert = await readPem(config.tlsCert, "CAAS_TLS_CERT");
    const key = await readPem(config.tlsKey, "CAAS_TLS_KEY");
    if (!cert.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`CAAS_TLS_CERT: '${config.tlsCert}' holds no PEM certificate`);
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-{5}/.test(key)) throw new ConfigError(`CAAS_TLS_KEY: '${config.tlsKey}' holds no PEM private key`);
    const material: TlsMaterial = { cert, key, ...(clientCa === undefined ? {} : { clientCa }) };
    for (const warning of checkTlsMaterial(material, sources)) {
      logger.warn(warning.event, {
        message: warning.message,
        path: config.tlsCert,
        notAfter: warning.notAfter,
        daysLeft: warning.daysLeft,
      });
    }
    return material;
  }
  // Loaded only when needed, as most starts have a certificate configured.
  const { createAdhocCertificate } = await import("./adhoc.ts");
  const adhoc = await createAdhocCertificate();
  const material: TlsMaterial = { cert: adhoc.cert, key: adhoc.key, ...(clientCa === undefined ? {} : { clientCa }) };
  checkTlsMaterial(material, sources);
  logger.warn("adhoc_certificate", {
    sha256: adhoc.sha256Fingerprint,
    hint: "self-signed, in memory, for development only; set CAAS_TLS_CERT and CAAS_TLS_KEY",
  });
  return material;
}

/**
 * In development, the ad-hoc certificate's public half goes to the state directory, so a client
 * can trust it (curl --cacert) instead of turning verification off. Done once per start, by the
 * process that made the certificate.
 */
export async function publishAdhocCertificate(config: Config, tls: TlsMaterial, logger: Logger): Promise<void> {
  if (!isDevelopment(config)) return;
  const path = await publishDevCertificate(config.stateDir, tls.cert);
  logger.info("dev_certificate", { path, hint: "trust it for development: curl --cacert <path>" });
}
