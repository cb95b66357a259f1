/**
 * What a load reads, apart from what it builds: the text of each credential file, as read with
 * the private file rules. A reload reads every file first and builds from what it read, so it
 * applies all of them or none; a supervisor reads once and hands the very same sources to each
 * worker (one line of JSON), so every worker serves what the supervisor checked and never newer
 * files it has not loaded. The fingerprint names one set of sources, so an operator can see that
 * every instance loaded the same files before promoting a version.
 */
import { createHash } from "node:crypto";
import { ApiKeyStore } from "./api-keys.ts";
import { readKeysText } from "./keys-file.ts";
import { Keyring } from "./keyring.ts";
import { parseKeyringFile, readKeyringText } from "./keyring-file.ts";
import { readRootKeyBytes, rootKeyFrom } from "./root-key.ts";
import { parseSecretFile, readSecretText } from "./secret-ring.ts";

/** A file as it was read: its path (for messages and the change watch) and its text. */
export interface FileText {
  readonly path: string;
  readonly text: string;
}

export type ApiKeySource =
  | { readonly kind: "file"; readonly file: FileText }
  /** Development without a keys file: the one key of the state directory, allowed everything. */
  | { readonly kind: "development"; readonly path: string; readonly key: string; readonly name: string }
  | { readonly kind: "none" };

export interface KeyringSource {
  readonly rootKey: { readonly path: string; readonly base64: string };
  /** Absent when a root key is configured without a keyring file: no keyring key is known. */
  readonly keyring?: FileText;
}

export interface CredentialSources {
  readonly secret: FileText;
  readonly apiKeys: ApiKeySource;
  readonly keyring?: KeyringSource;
}

export async function readSecretSource(path: string): Promise<FileText> {
  return { path, text: await readSecretText(path) };
}

export async function readKeysSource(path: string): Promise<ApiKeySource> {
  return { kind: "file", file: { path, text: await readKeysText(path) } };
}

export async function readKeyringSource(rootKeyPath: string, keyringPath: string | undefined): Promise<KeyringSource> {
  const bytes = await readRootKeyBytes(rootKeyPath);
  try {
    const rootKey = { path: rootKeyPath, base64: bytes.toBase64() };
    return keyringPath === undefined ? { rootKey } : { rootKey, keyring: { path: keyringPath, text: await readKeyringText(keyringPath) } };
  } finally {
    bytes.fill(0);
  }
}

/** The pieces built from sources, every check of the files applied; throws the file's own error where one fails. */
export interface BuiltCredentials {
  readonly apiKeys: ApiKeyStore;
  readonly secrets: ReturnType<typeof parseSecretFile>;
  readonly keyring: Keyring;
}

export function buildCredentials(sources: CredentialSources, now: number = Date.now()): BuiltCredentials {
  const secrets = parseSecretFile(sources.secret.path, sources.secret.text);
  const keyring = keyringOf(sources.keyring, now);
  return { secrets, keyring, apiKeys: apiKeysOf(sources.apiKeys, keyring) };
}

function keyringOf(source: KeyringSource | undefined, now: number): Keyring {
  if (source === undefined) return Keyring.empty();
  const bytes = Uint8Array.fromBase64(source.rootKey.base64);
  try {
    const root = rootKeyFrom(source.rootKey.path, bytes);
    return source.keyring === undefined ? Keyring.empty() : parseKeyringFile(source.keyring.path, source.keyring.text, root, now).keyring;
  } finally {
    bytes.fill(0);
  }
}

function apiKeysOf(source: ApiKeySource, keyring: Keyring): ApiKeyStore {
  if (source.kind === "file") return ApiKeyStore.fromText(source.file.path, source.file.text);
  if (source.kind === "none") return ApiKeyStore.empty();
  // Every scope, so every endpoint answers on the first run: the development keyring's keys included.
  const scopes = ["pseudonym", "oracle", ...keyring.names.map((name) => `keyring:${name}`)];
  return ApiKeyStore.fromKeys([{ name: source.name, key: source.key, scopes }]);
}

/** Every file the sources were read from, for the change watch. */
export function pathsOf(sources: CredentialSources): readonly string[] {
  const paths = [sources.secret.path];
  if (sources.apiKeys.kind === "file") paths.push(sources.apiKeys.file.path);
  if (sources.apiKeys.kind === "development") paths.push(sources.apiKeys.path);
  if (sources.keyring !== undefined) {
    paths.push(sources.keyring.rootKey.path);
    if (sources.keyring.keyring !== undefined) paths.push(sources.keyring.keyring.path);
  }
  return paths;
}

const FINGERPRINT_DOMAIN = "caas credentials fingerprint v1";

/**
 * 16 hex digits naming what was loaded: equal on every instance that read the same files (and
 * TLS material), whatever their paths; different after any change. A truncated SHA-256 over
 * files holding 256-bit secrets: it names them and reveals nothing of them.
 */
export function fingerprintOf(sources: CredentialSources, tls: readonly string[] = []): string {
  const hash = createHash("sha256").update(FINGERPRINT_DOMAIN);
  const parts = [
    sources.secret.text,
    sources.apiKeys.kind === "file" ? sources.apiKeys.file.text : sources.apiKeys.kind === "development" ? sources.apiKeys.key : "",
    sources.keyring?.rootKey.base64 ?? "",
    sources.keyring?.keyring?.text ?? "",
    ...tls,
  ];
  for (const part of parts) {
    const bytes = Buffer.from(part, "utf8");
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  }
  return hash.digest("hex").slice(0, 16);
}
