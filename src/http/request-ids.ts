/**
 * What lets a request be followed across systems: its id (X-Request-Id) and the W3C trace it
 * belongs to (traceparent). Both come from the client, so both are taken only when they are
 * plain tokens: anything else could carry a secret, a log-injection payload or just noise into
 * the log and audit lines, and is replaced (the id) or ignored (the trace).
 */
import { REQUEST_ID_HEADER } from "./headers.ts";

/** At most 128 of A-Za-z0-9 . _ : - (what tracing systems and proxies put there: UUIDs, hex ids, "svc:1234"). */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's X-Request-Id when it is a safe token, else a fresh random UUID. */
export function requestIdOf(headers: Headers): string {
  const sent = headers.get(REQUEST_ID_HEADER);
  return sent !== null && SAFE_REQUEST_ID.test(sent) ? sent : crypto.randomUUID();
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
