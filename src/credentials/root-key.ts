/**
 * The root key: 32 random bytes in a file of their own (caas root-key init), mode 0600; under
 * systemd it may be an encrypted credential (systemd-creds, LoadCredentialEncrypted=). Every
 * keyring version is stored wrapped under it: XAES-256-GCM nonce ‖ ciphertext ‖ tag, with the
 * key's name and version as associated data, so the keyring file alone reveals nothing, and a
 * wrapped version moved to another name or number no longer opens.
 */
import { randomBytes } from "node:crypto";
import { AuthenticationFailed } from "../crypto/aead.ts";
import { encodeUtf8, fromBase64, toBase64 } from "../crypto/encoding.ts";
import { lengthPrefixed, uint32Bytes } from "../crypto/framing.ts";
import { XAES_NONCE_BYTES, XaesKey, randomXaesNonce } from "../crypto/xaes.ts";
import { privateFileTarget, type PrivateFileRules, readPrivateFileBytes, writePrivateFile } from "../files/private-file.ts";
import { asStoreErrors, storeErrors } from "../files/store-errors.ts";

export const ROOT_KEY_BYTES = 32;
/** Nobody else may read the root key. */
const ROOT_KEY_RULES: PrivateFileRules = { forbiddenModeBits: 0o077, maxBytes: 1024 };
const WRAP_DOMAIN = encodeUtf8("caas keyring wrap v1");

/** The root key file's errors (store "root_key"); messages name the file and the fix, never its contents. */
export const ROOT_KEY_ERRORS = storeErrors({
  store: "root_key",
  maxBytes: ROOT_KEY_RULES.maxBytes,
  missing: (path) => `root key file ${path} does not exist; create one with: caas root-key init ${path}`,
  exists: (path) => `root key file ${path} already exists; refusing to overwrite it (every keyring wrapped under it would be lost)`,
  invalid: (path, reason) => `root key file ${path} is not a caas root key: ${reason}`,
});

/** The root key, ready to wrap and unwrap; its raw bytes are not kept. */
export interface RootKey {
  readonly path: string;
  readonly cipher: XaesKey;
}

/** Reads the root key file's bytes: exactly 32, with the private file rules (owner, mode 0600, directory). The caller zeroes them. */
export async function readRootKeyBytes(path: string): Promise<Uint8Array> {
  const bytes = await asStoreErrors(ROOT_KEY_ERRORS, path, () => readPrivateFileBytes(path, ROOT_KEY_RULES));
  if (bytes.length !== ROOT_KEY_BYTES) {
    bytes.fill(0);
    throw ROOT_KEY_ERRORS.invalid(
      path,
      `it holds ${bytes.length} bytes where a root key is exactly ${ROOT_KEY_BYTES} (made with caas root-key init)`,
    );
  }
  return bytes;
}

/** A root key from its 32 bytes, read from `path` (by this process, or by the supervisor that handed them over). */
export function rootKeyFrom(path: string, bytes: Uint8Array): RootKey {
  if (bytes.length !== ROOT_KEY_BYTES)
    throw ROOT_KEY_ERRORS.invalid(path, `it holds ${bytes.length} bytes where a root key is exactly ${ROOT_KEY_BYTES}`);
  return { path, cipher: new XaesKey(bytes) };
}

/** Reads and checks the root key file. */
export async function loadRootKey(path: string): Promise<RootKey> {
  const bytes = await readRootKeyBytes(path);
  try {
    return rootKeyFrom(path, bytes);
  } finally {
    bytes.fill(0);
  }
}

/** Writes 32 fresh random bytes to `path`, mode 0600; refuses if `path` exists (no lock needed: link() creates only if absent). */
export async function initRootKey(path: string): Promise<void> {
  const bytes = new Uint8Array(randomBytes(ROOT_KEY_BYTES));
  try {
    const target = await asStoreErrors(ROOT_KEY_ERRORS, path, () => privateFileTarget(path));
    await asStoreErrors(ROOT_KEY_ERRORS, path, () => writePrivateFile(target, bytes, "create"));
  } finally {
    bytes.fill(0);
  }
}

/**
 * An encryption key's versions keep the associated data they always had (name, version), so
 * files written before key types open as they did; every other type adds itself, so a wrapped
 * version moved into a key of another type does not open there.
 */
function wrapAad(name: string, version: number, type: string | undefined): Uint8Array {
  const parts = [WRAP_DOMAIN, encodeUtf8(name), uint32Bytes(version)];
  return lengthPrefixed(type === undefined || type === "xaes-256-gcm" ? parts : [...parts, encodeUtf8(type)]);
}

/** Which version of which key a wrapping is for: bound into it, so it opens for that key, number and type only. */
export interface WrapSlot {
  readonly name: string;
  readonly version: number;
  readonly type?: string | undefined;
}

/** A version's key wrapped under `root` for its slot, as the keyring file stores it (base64). */
export function wrapVersionKey(root: RootKey, { name, version, type }: WrapSlot, material: Uint8Array): string {
  const nonce = randomXaesNonce();
  const sealed = root.cipher.seal(nonce, material, wrapAad(name, version, type));
  const joined = new Uint8Array(nonce.length + sealed.length);
  joined.set(nonce, 0);
  joined.set(sealed, nonce.length);
  return toBase64(joined);
}

/** The key inside `wrapped` (base64, as the file stores it), or undefined when it does not open under `root` for this slot. */
export function unwrapVersionKey(root: RootKey, { name, version, type }: WrapSlot, wrapped: string): Uint8Array | undefined {
  const bytes = fromBase64(wrapped);
  try {
    return root.cipher.open(bytes.subarray(0, XAES_NONCE_BYTES), bytes.subarray(XAES_NONCE_BYTES), wrapAad(name, version, type));
  } catch (error) {
    if (error instanceof AuthenticationFailed) return undefined;
    throw error;
  }
}
