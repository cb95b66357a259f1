/**
 * Who is calling: the API key a request presents, from whichever of its three places it is in,
 * looked up in the store. Every failure is the same 401 `unauthorized`, whatever went wrong, so
 * a caller without a key learns nothing about why, or about the rest of its request.
 *
 * A key may be sent in the JSON body as `apiKey` (the Django original's way), as
 * `Authorization: Bearer <key>`, or as `X-API-Key: <key>`. There is no precedence among them:
 * each place that is used must hold the same key, and a request whose places disagree is
 * refused. Picking a winner would let a proxy's header silently override what the client meant
 * (or the reverse), and the key that "lost" would go unchecked.
 */

import { ScopeMissing, Unauthorized, UnknownKey } from "../errors.ts";
import { type ApiKeyRecord, type ApiKeyStore, type KeyringPermission, permitsKeyring } from "../credentials/api-keys.ts";
import type { CredentialsHolder } from "../credentials/holder.ts";
import type { KeyringEntry } from "../credentials/keyring.ts";
import type { RequestAudit } from "./audit.ts";

/** What a request presents: a key, no key at all, or something that can never be a valid key. */
type Presented = { readonly kind: "key"; readonly key: string } | { readonly kind: "none" } | { readonly kind: "malformed" };

const NONE: Presented = { kind: "none" };
const MALFORMED: Presented = { kind: "malformed" };

/**
 * RFC 9110 §11.1 makes the scheme case-insensitive; RFC 6750 §2.1 allows one token after it.
 * Any other scheme (Basic, a bare key) is not a key for us, and saying so as 401 is safer than
 * ignoring the header and falling back to another place.
 */
const bearer = /^bearer +(\S+) *$/i;

function fromAuthorization(headers: Headers): Presented {
  const value = headers.get("authorization");
  if (value === null) return NONE;
  const match = bearer.exec(value);
  return match?.[1] === undefined ? MALFORMED : { kind: "key", key: match[1] };
}

function fromApiKeyHeader(headers: Headers): Presented {
  const value = headers.get("x-api-key");
  // Present but empty still counts as presented: an empty key is a wrong key, not an absent one.
  return value === null ? NONE : { kind: "key", key: value };
}

/** The body's `apiKey` as sent, before any schema: a number, null or object is malformed, not absent. */
function fromBody(body: unknown): Presented {
  if (typeof body !== "object" || body === null || Array.isArray(body) || !Object.hasOwn(body, "apiKey")) return NONE;
  const value: unknown = (body as { readonly apiKey?: unknown }).apiKey;
  return typeof value === "string" ? { kind: "key", key: value } : MALFORMED;
}

/** The one key all used places agree on; malformed when one is malformed or two differ. */
function agreedAmong(places: readonly Presented[]): Presented {
  let agreed: Presented = NONE;
  for (const presented of places) {
    if (presented.kind === "none") continue;
    if (presented.kind === "malformed") return MALFORMED;
    // Comparing presented values with each other leaks nothing: both came from this caller.
    if (agreed.kind === "key" && agreed.key !== presented.key) return MALFORMED;
    agreed = presented;
  }
  return agreed;
}

/** The key a request's headers carry and its record in one store. */
interface HeaderCaller {
  readonly apiKeys: ApiKeyStore;
  /** What the headers present, both of them taken together. */
  readonly presented: Presented;
  /** undefined: no key, or not a valid one. */
  readonly record: ApiKeyRecord | undefined;
}

/** Looks up the key the headers carry (is this a valid key, and whose?). */
function headerCaller(apiKeys: ApiKeyStore, headers: Headers): HeaderCaller {
  const presented = agreedAmong([fromAuthorization(headers), fromApiKeyHeader(headers)]);
  return { apiKeys, presented, record: presented.kind === "key" ? apiKeys.lookup(presented.key) : undefined };
}

/** What a keyring route asks of its caller: the key it names, for what, noted in which request's audit line. */
export interface KeyringAsk {
  readonly request: Request;
  readonly name: string | undefined;
  readonly operation: KeyringPermission;
  readonly audit: Pick<RequestAudit, "note">;
}

/**
 * Who calls: each request's caller resolved once, whoever asks first (the rate-limit gate before
 * routing, else the route) and kept for the rest of the request, so an API key is hashed and looked
 * up once a request however many layers want to know whose it is. One per server, shared by its
 * gate and its app, so nothing is shared between two servers (tests build several).
 */
export class Callers {
  readonly #byRequest = new WeakMap<Request, HeaderCaller>();

  /** The key `request`'s headers carry, looked up in `store`: once per request and store (a reload mid-request looks again). */
  inHeaders(request: Request, store: ApiKeyStore): HeaderCaller {
    const known = this.#byRequest.get(request);
    if (known !== undefined && known.apiKeys === store) return known;
    const found = headerCaller(store, request.headers);
    this.#byRequest.set(request, found);
    return found;
  }

  /**
   * The record of the caller's key, or Unauthorized. Runs on the raw parsed body, before the
   * route's schema is checked, so that a request with a bad key and a bad field is a 401 too.
   * A body key that is the header key (or no body key) takes the headers' answer.
   */
  authenticate(store: ApiKeyStore, request: Request, body: unknown): ApiKeyRecord {
    const known = this.inHeaders(request, store);
    // The headers are read once, by inHeaders; the body adds its key to what they agreed on.
    const presented = agreedAmong([fromBody(body), known.presented]);
    const record = presented === known.presented ? known.record : presented.kind === "key" ? store.lookup(presented.key) : undefined;
    if (record === undefined) throw new Unauthorized();
    return record;
  }

  /**
   * Who may do `operation` on keyring key `name`, decided before the body's schema or any work:
   * 401 without a valid key (headers only: a keyring body has no apiKey), 403 without the scope
   * whether or not the key exists (so names cannot be probed), then 404 for a name the caller may
   * use that the keyring does not hold. The caller's key name goes into the audit line as soon as
   * the key is known, so a refusal for a missing scope still says who was refused. The key is of
   * whichever type: a route asks for the type it works with after this (400 unsupported_operation).
   * Credentials are read once, so the key and the scope that allowed it come from one load.
   */
  forKeyring(credentials: CredentialsHolder, ask: KeyringAsk): { readonly caller: ApiKeyRecord; readonly key: KeyringEntry } {
    const { apiKeys, keyring } = credentials.current;
    const caller = this.authenticate(apiKeys, ask.request, undefined);
    ask.audit.note({ apiKeyName: caller.name });
    if (ask.name === undefined || !permitsKeyring(caller, ask.name, ask.operation)) throw new ScopeMissing();
    const key = keyring.get(ask.name);
    if (key === undefined) throw new UnknownKey();
    ask.audit.note({ keyName: key.name });
    return { caller, key };
  }
}
