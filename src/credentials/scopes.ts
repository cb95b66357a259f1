/**
 * Scopes: what an API key may do. "pseudonym" (the /encrypt family), "oracle" (the oracle when
 * CAAS_ORACLE_REQUIRE_KEY is on), "keyring:NAME" (every operation on keyring key NAME) and
 * "keyring:NAME:OP" (one operation). Key names hold no ':', so a scope reads one way only. A
 * scope is parsed once, when its keys file is loaded; a request only compares fields.
 */

import { InvalidArgument } from "../errors.ts";

/** sign covers sign, hmac and jwt; verify covers verify, jwt/verify and public-key. */
export const KEYRING_OPERATIONS = ["encrypt", "decrypt", "rewrap", "datakey", "sign", "verify"] as const;
export type KeyringOperation = (typeof KEYRING_OPERATIONS)[number];
/**
 * What a keyring scope's OP may name: an operation, or "datakey-wrapped", the datakey operation
 * with {"plaintext": false} only, for a writer that stores wrapped keys and must never hold one.
 */
export const KEYRING_SCOPE_OPERATIONS = [...KEYRING_OPERATIONS, "datakey-wrapped"] as const;
export type KeyringPermission = (typeof KEYRING_SCOPE_OPERATIONS)[number];

/** One thing a key may do: a feature, or keyring key `key` for one operation or for all of them. */
export type Scope =
  | { readonly to: "pseudonym" | "oracle" }
  | { readonly to: "keyring"; readonly key: string; readonly operation: KeyringPermission | "all" };

/** What every key could do before scopes existed, so a keys file without them keeps working as it did. */
export const DEFAULT_SCOPES: readonly string[] = Object.freeze(["pseudonym"]);

/** Names of API keys and keyring keys are shown in logs and listings, so they are kept to plain, unambiguous characters. */
export const KEY_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
const keyNamePattern = new RegExp(KEY_NAME_PATTERN);

export function isValidKeyName(name: string): boolean {
  return keyNamePattern.test(name);
}

/** A name given to a command for an API key or a keyring key (`of`), or InvalidArgument saying what a name may be. */
export function checkKeyName(name: string, of: "api_keys" | "keyring"): void {
  if (!isValidKeyName(name))
    throw new InvalidArgument(of, "a key name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
}

/** A scope as the keys file holds it; the file's schema checks each against this. */
export const SCOPE_PATTERN = `^(?:pseudonym|oracle|keyring:[A-Za-z0-9][A-Za-z0-9._-]{0,63}(?::(?:${KEYRING_SCOPE_OPERATIONS.join("|")}))?)$`;
const scopePattern = new RegExp(SCOPE_PATTERN);
/** The scopes there are, in words, for the errors a bad --scope gets. */
export const SCOPE_FORMS = `pseudonym, oracle, keyring:NAME or keyring:NAME:OP (OP: ${KEYRING_SCOPE_OPERATIONS.join(", ")})`;

export function isValidScope(text: string): boolean {
  return scopePattern.test(text);
}

/** The scope `text` says, or undefined when it is not one (see SCOPE_PATTERN). */
export function parseScope(text: string): Scope | undefined {
  if (!isValidScope(text)) return undefined;
  if (text === "pseudonym" || text === "oracle") return { to: text };
  const [, key = "", operation] = text.split(":");
  return { to: "keyring", key, operation: (operation as KeyringPermission | undefined) ?? "all" };
}

/** Scopes from text a keys file or a test holds; each was checked against SCOPE_PATTERN, and one that is not a scope is dropped. */
export function parseScopes(texts: readonly string[]): readonly Scope[] {
  return Object.freeze(texts.flatMap((text) => parseScope(text) ?? []));
}

/** The scope as written in the keys file and `keys list`. */
export function scopeText(scope: Scope): string {
  if (scope.to !== "keyring") return scope.to;
  return scope.operation === "all" ? `keyring:${scope.key}` : `keyring:${scope.key}:${scope.operation}`;
}

/** Whether `scopes` allow `feature` ("pseudonym" or "oracle"). */
export function allowsFeature(scopes: readonly Scope[], feature: "pseudonym" | "oracle"): boolean {
  return scopes.some((scope) => scope.to === feature);
}

/**
 * Whether `scopes` allow `permission` on keyring key `keyName`: its whole-key scope or that
 * operation's; "datakey-wrapped" is also allowed by "datakey", which gives more.
 */
export function allowsKeyring(scopes: readonly Scope[], keyName: string, permission: KeyringPermission): boolean {
  // A name from a request path may hold ':' (sent or percent-encoded); no keyring key has such a name, so no scope covers it.
  if (!isValidKeyName(keyName)) return false;
  return scopes.some(
    (scope) =>
      scope.to === "keyring" &&
      scope.key === keyName &&
      (scope.operation === "all" || scope.operation === permission || (permission === "datakey-wrapped" && scope.operation === "datakey")),
  );
}
