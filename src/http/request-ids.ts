/**
 * What lets a request be followed across systems: caas's own id for it, the client's id
 * (X-Request-Id) and the W3C trace it belongs to (traceparent). The last two come from the
 * client, so they are taken only when they are plain tokens: anything else could carry a secret,
 * a log-injection payload or just noise into the log and audit lines, and is ignored.
 */
import { REQUEST_ID_HEADER } from "./headers.ts";

/** At most 128 of A-Za-z0-9 . _ : - (what tracing systems and proxies put there: UUIDs, hex ids, "svc:1234"). */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's X-Request-Id when it is a safe token, else undefined (an unsafe one is never repeated). */
export function clientRequestIdOf(headers: Headers): string | undefined {
  const sent = headers.get(REQUEST_ID_HEADER);
  return sent !== null && SAFE_REQUEST_ID.test(sent) ? sent : undefined;
}

/**
 * caas's own id for a request: a random UUID, made at the first ask and the same at every later
 * one, whichever layer asks (the rate-limit gate, the app, the last-resort 500). Log and audit
 * lines name a request by it, since a client's id may repeat or be chosen to collide.
 */
const ownIds = new WeakMap<Request, string>();

export function requestIdOf(request: Request): string {
  let id = ownIds.get(request);
  if (id === undefined) {
    id = crypto.randomUUID();
    ownIds.set(request, id);
  }
  return id;
}

/** The id an answer carries in X-Request-Id: the client's when it sent a safe one (proxies expect it back), else caas's own. */
export function answeredRequestIdOf(request: Request): string {
  return clientRequestIdOf(request.headers) ?? requestIdOf(request);
}

/**
 * W3C Trace Context §3.2, version 00 only: 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>,
 * lowercase. A later version's header may be longer and is not parsed here.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const ZERO_TRACE_ID = "0".repeat(32);
const ZERO_PARENT_ID = "0".repeat(16);

/** The trace id of a well-formed traceparent header, else undefined (a malformed one is ignored, never repeated). */
export function traceIdOf(headers: Headers): string | undefined {
  const sent = headers.get("traceparent");
  if (sent === null) return undefined;
  const match = TRACEPARENT.exec(sent);
  if (match === null || match[1] === ZERO_TRACE_ID || match[2] === ZERO_PARENT_ID) return undefined;
  return match[1];
}
