/**
 * Development mode: what caas makes for itself when no certificate is configured, so that the
 * README's first start answers every endpoint. In the state directory, beside the state secret:
 *   dev-certificate.pem  the public half of the ad-hoc certificate, for clients to trust (curl --cacert)
 *   dev-api-key          one API key, named "dev", for the pseudonym routes (mode 0600)
 * The log names these files, never the key. A configured certificate means production: nothing
 * here happens, and no key exists that the operator did not make.
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import { readPrivateFile, writePrivateFile } from "../files/private-file.ts";
import { generateApiKey, isGeneratedApiKey } from "./api-keys.ts";
import { asSecretFileErrors, prepareStateDirectory, SecretFileExists, SecretFileInvalid, SecretFileMissing } from "./secret-ring.ts";

export const DEV_API_KEY_FILE = "dev-api-key";
export const DEV_CERTIFICATE_FILE = "dev-certificate.pem";
/** The name the development key has in logs, listings and audit lines. */
export const DEV_API_KEY_NAME = "dev";

/** No certificate configured: the ad-hoc one, and everything else this file makes. */
export function isDevelopment(config: Config): boolean {
  return config.tlsCert === undefined;
}

export interface DevApiKey {
  readonly key: string;
  readonly path: string;
  readonly created: boolean;
}

async function readDevApiKey(path: string): Promise<string> {
  const text = await asSecretFileErrors(path, () => readPrivateFile(path, { forbiddenModeBits: 0o077, maxBytes: 1024 }));
  const key = text.trim();
  if (!isGeneratedApiKey(key)) throw new SecretFileInvalid(path, "not a caas API key; delete the file and caas makes a new one");
  return key;
}

/**
 * The development API key: read from the state directory, or made there on the first start.
 * Several processes starting at once end up with one key: creation is create-if-absent.
 */
export async function ensureDevApiKey(stateDir: string): Promise<DevApiKey> {
  await prepareStateDirectory(stateDir);
  const path = join(stateDir, DEV_API_KEY_FILE);
  try {
    return { key: await readDevApiKey(path), path, created: false };
  } catch (error) {
    if (!(error instanceof SecretFileMissing)) throw error;
  }
  const key = generateApiKey();
  try {
    await asSecretFileErrors(path, () => writePrivateFile(path, `${key}\n`, "create"));
    return { key, path, created: true };
  } catch (error) {
    if (!(error instanceof SecretFileExists)) throw error;
    return { key: await readDevApiKey(path), path, created: false };
  }
}

/** What ensureDevApiKey would create, for `serve --check`; nothing when the key is there. */
export async function planDevApiKey(stateDir: string): Promise<readonly string[]> {
  const path = join(stateDir, DEV_API_KEY_FILE);
  try {
    await readDevApiKey(path);
    return [];
  } catch (error) {
    if (!(error instanceof SecretFileMissing)) throw error;
    return [`${path} (a development API key, mode 0600)`];
  }
}

/** Writes the ad-hoc certificate (public) where clients can trust it; replaced on every start, as the certificate is new. */
export async function publishDevCertificate(stateDir: string, certificatePem: string): Promise<string> {
  await prepareStateDirectory(stateDir);
  const path = join(stateDir, DEV_CERTIFICATE_FILE);
  await asSecretFileErrors(path, () => writePrivateFile(path, certificatePem, "replace"));
  return path;
}
