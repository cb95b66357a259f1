/**
 * What every keyring route shares, declared once: the caller checked before the body's schema
 * (Callers.forKeyring: 401, the one 403, 404, then the key's type), caas's JSON body reader, the
 * codes each can refuse with, and the OpenAPI entry's tags, security and note on the API key.
 */
import { Elysia, type t } from "elysia";
import type { KeyringOperation, KeyringPermission } from "../../credentials/api-keys.ts";
import type { CredentialsHolder } from "../../credentials/holder.ts";
import { cipherOf, type KeyringCipher, type KeyringEntry, observedKey } from "../../credentials/keyring.ts";
import type { AuditPlugin, RequestAudit } from "../../http/audit.ts";
import type { Callers } from "../../http/caller.ts";
import type { JsonBodyParser } from "../../http/json-body.ts";
import { API_KEY_REQUIRED, BODY_CODES, errorAnswers, SERVED_CODES } from "../../http/model.ts";

export interface KeyringDeps {
  readonly credentials: CredentialsHolder;
  /** Most items in one batch request (config.batchMax). */
  readonly batchMax: number;
  /** The app's audit plugin: each route's operationId names it in the trail; the caller and key are noted. */
  readonly audit: AuditPlugin;
  /** Each request's caller, resolved once (src/http/caller.ts). */
  readonly callers: Callers;
}

/** The deps with the body reader every keyring route shares. */
export type KeyringRouteDeps = KeyringDeps & { readonly parseJson: JsonBodyParser };

/** What every keyring route can refuse: the body, the caller's key and scope, then the keyring key's name (Callers.forKeyring). */
export const CALLER_CODES = [...BODY_CODES, ...SERVED_CODES, "unauthorized", "forbidden", "unknown_key", "unsupported_operation"] as const;
export const batchErrors = errorAnswers(...CALLER_CODES, "batch_too_large");
/** What checking a caas signature or MAC can fail with, besides the data's own encoding. */
export const VERIFY_CODES = [
  "invalid_signature",
  "key_version_retired",
  "key_version_unknown",
  "invalid_text",
  "invalid_encoding",
] as const;
/** What opening a caas ciphertext can fail with (KeyringKey.open), besides a lone surrogate in aad. */
export const OPEN_CODES = ["invalid_ciphertext", "key_version_retired", "authentication_failed", "invalid_text"] as const;

/**
 * What a request of `operation` asks the caller's scope for: a datakey request whose body, as
 * sent, says {"plaintext": false} needs only datakey-wrapped. Read before the schema, like the
 * scope itself, so any other body (plaintext true, absent or mistyped) needs datakey in full.
 */
function permissionFor(operation: KeyringOperation, body: unknown): KeyringPermission {
  if (operation !== "datakey" || typeof body !== "object" || body === null) return operation;
  return (body as { readonly plaintext?: unknown }).plaintext === false ? "datakey-wrapped" : operation;
}

export type ObjectSchema = ReturnType<typeof t.Object>;

const tags = ["keyring"];
const security = API_KEY_REQUIRED;
const KEY_NOTE = " The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).";

/** A route's own part of its OpenAPI entry; what every keyring route shares (tags, security, the key note) is added here. */
export function about(operationId: string, summary: string, description: string) {
  return { tags, security, operationId, summary, description: description + KEY_NOTE };
}

/**
 * The keyring's routes for one kind of key use, behind one guard for what they all share: the
 * caller is checked first (401, the one 403, 404), then the key's type (400 unsupported_operation
 * from `pick`), all before the body's schema, and the body is read by caas's JSON reader. `key`
 * is what `pick` made of the keyring entry.
 */
export function keyUseRoutes<Key>(
  label: string,
  permission: (body: unknown) => KeyringPermission,
  pick: (entry: KeyringEntry, audit: RequestAudit) => Key,
  deps: KeyringRouteDeps,
) {
  return new Elysia({ name: `caas.keyring.${label}`, seed: deps.batchMax })
    .use(deps.audit)
    .guard({ parse: deps.parseJson })
    .derive(({ request, params, body, audit }) => {
      const name = (params as Readonly<Record<string, string | undefined>>).name;
      const found = deps.callers.forKeyring(deps.credentials, { request, name, operation: permission(body), audit });
      return { caller: found.caller, key: pick(found.key, audit) };
    });
}

/** One encryption operation's routes (the single call and, where there is one, its batch): each seal and open is a use of the key (RequestAudit.keyUsed). */
export function cipherRoutes(operation: KeyringOperation, deps: KeyringRouteDeps) {
  return keyUseRoutes(
    operation,
    (body) => permissionFor(operation, body),
    (entry, audit): KeyringCipher => observedKey(cipherOf(entry, operation), (name, version, used) => audit.keyUsed(name, version, used)),
    deps,
  );
}
