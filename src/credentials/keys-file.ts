/**
 * The API keys file's format: a JSON file of named, hashed keys, read and written with the
 * private file rules (src/files/private-file.ts).
 *
 *   {"keys":[{"name":"main-server","profile":"standard","hash":"<sha256 hex>","created":"<ISO 8601>"}]}
 *
 * Every check the server applies to the file is here, and is applied to what a command is about
 * to write too, so no command leaves a file the server refuses.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { type PrivateFileRules, readPrivateFile, writePrivateFile } from "../files/private-file.ts";
import { asStoreErrors, loadsBack, storeErrors, StoreFileError } from "../files/store-errors.ts";
import { KEY_NAME_PATTERN, SCOPE_PATTERN } from "./scopes.ts";

/** "standard" is the keyed pool; "django-compat" answers like the Django original. */
export const API_KEY_PROFILES = ["standard", "django-compat"] as const;
export type ApiKeyProfile = (typeof API_KEY_PROFILES)[number];
export const DEFAULT_PROFILE: ApiKeyProfile = "standard";

export function isApiKeyProfile(value: string): value is ApiKeyProfile {
  return (API_KEY_PROFILES as readonly string[]).includes(value);
}

/**
 * The keys file's limits, one set, as docs/security.md states them. The byte cap is what 100,000
 * keys take as caas writes them with the longest names and one scope each (about 300 bytes a key),
 * with room to spare, so the count is a limit a real file reaches; keys with many scopes reach
 * the byte cap first. Each is checked with an error that names it.
 */
export const KEYS_FILE_LIMITS = { bytes: 32 * 1024 * 1024, keys: 100_000, scopesPerKey: 1000 } as const;
/** Hashes are no secret, so others may read the file; writing it grants access, so nobody else may. */
const KEYS_FILE_RULES: PrivateFileRules = { forbiddenModeBits: 0o022, maxBytes: KEYS_FILE_LIMITS.bytes };

const KeysFileSchema = Type.Object(
  {
    keys: Type.Array(
      Type.Object(
        {
          name: Type.String({ pattern: KEY_NAME_PATTERN }),
          profile: Type.Union(API_KEY_PROFILES.map((profile) => Type.Literal(profile))),
          hash: Type.String({ pattern: "^[0-9a-f]{64}$" }),
          created: Type.String({ minLength: 1, maxLength: 64 }),
          scopes: Type.Optional(Type.Array(Type.String({ pattern: SCOPE_PATTERN }), { maxItems: KEYS_FILE_LIMITS.scopesPerKey })),
        },
        { additionalProperties: false },
      ),
      { maxItems: KEYS_FILE_LIMITS.keys },
    ),
  },
  { additionalProperties: false },
);
export type KeysFile = Static<typeof KeysFileSchema>;
export type StoredKey = KeysFile["keys"][number];

/** The keys file's errors (store "keys_file"); messages name the file and the fix, never its contents. */
export const KEYS_FILE_ERRORS = storeErrors({
  store: "keys_file",
  maxBytes: KEYS_FILE_LIMITS.bytes,
  missing: (path) => `keys file ${path} does not exist; create it with: caas keys add NAME --file ${path}`,
  invalid: (path, reason) => `keys file ${path} is not a valid caas keys file: ${reason}`,
  // Someone other than us or root could rewrite the file (its mode, owner or directory), and so add keys of their own.
  insecure: (found, fix) => `${found}; whoever can rewrite the keys file can add keys of their own, so caas refuses to use it. Fix: ${fix}`,
});

export async function readKeysFile(path: string): Promise<KeysFile> {
  return parseKeysFile(path, await readKeysText(path));
}

/** The keys file's text, read with the private file rules (owner, mode, directory, size). */
export function readKeysText(path: string): Promise<string> {
  return asStoreErrors(KEYS_FILE_ERRORS, path, () => readPrivateFile(path, KEYS_FILE_RULES));
}

const counted = (count: number) => count.toLocaleString("en");

/** The count limits, said as such: the schema would only point at the field. */
function checkCounts(path: string, json: unknown): void {
  const keys = typeof json === "object" && json !== null ? (json as { readonly keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys)) return;
  if (keys.length > KEYS_FILE_LIMITS.keys) {
    throw KEYS_FILE_ERRORS.invalid(
      path,
      `it holds ${counted(keys.length)} keys; a keys file holds at most ${counted(KEYS_FILE_LIMITS.keys)}`,
    );
  }
  keys.forEach((key: unknown, index) => {
    const scopes = typeof key === "object" && key !== null ? (key as { readonly scopes?: unknown }).scopes : undefined;
    if (Array.isArray(scopes) && scopes.length > KEYS_FILE_LIMITS.scopesPerKey) {
      throw KEYS_FILE_ERRORS.invalid(
        path,
        `the key at /keys/${index} has ${counted(scopes.length)} scopes; a key has at most ${counted(KEYS_FILE_LIMITS.scopesPerKey)}`,
      );
    }
  });
}

/** Every check the server applies to the file's text; also run on what a command is about to write. */
export function parseKeysFile(path: string, text: string): KeysFile {
  if (Buffer.byteLength(text, "utf8") > KEYS_FILE_RULES.maxBytes) throw KEYS_FILE_ERRORS.of(path, { kind: "too_large" });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw KEYS_FILE_ERRORS.invalid(path, "not JSON");
  }
  checkCounts(path, json);
  if (!Value.Check(KeysFileSchema, json)) {
    const where = Value.Errors(KeysFileSchema, json).First()?.path || "/";
    throw KEYS_FILE_ERRORS.invalid(path, `unexpected, missing or malformed field at ${where}`);
  }
  const names = new Set<string>();
  const hashes = new Set<string>();
  for (const key of json.keys) {
    if (names.has(key.name)) throw KEYS_FILE_ERRORS.invalid(path, `the name "${key.name}" appears twice`);
    if (hashes.has(key.hash)) throw KEYS_FILE_ERRORS.invalid(path, `the key named "${key.name}" appears twice`);
    if (Number.isNaN(Date.parse(key.created))) throw KEYS_FILE_ERRORS.invalid(path, `"${key.name}" has no valid "created" date`);
    names.add(key.name);
    hashes.add(key.hash);
  }
  return json;
}

/** Where a command writes: the path it was given, and the file that path names once links are followed. */
export interface KeysFileAt {
  readonly path: string;
  readonly target: string;
}

/**
 * Replaces the file atomically (see writePrivateFile), after reading what it is about to write
 * with the server's own checks, so no command leaves a file the server refuses.
 */
export async function writeKeysFile({ path, target }: KeysFileAt, file: KeysFile): Promise<void> {
  const text = `${JSON.stringify(file, null, 2)}\n`;
  loadsBack(
    "keys_file",
    () => parseKeysFile(path, text),
    (reason) =>
      new StoreFileError(
        { store: "keys_file", problem: "refused", path },
        `refusing to write ${path}: ${reason}; the file is left as it was`,
      ),
  );
  await asStoreErrors(KEYS_FILE_ERRORS, path, () => writePrivateFile(target, text, "replace"));
}
