/** Headers on every answer: crypto results must not be cached, and clients must stay on TLS. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "strict-transport-security": "max-age=63072000",
});

export const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...SECURITY_HEADERS,
  "content-type": "application/json",
});

/** Names the request in the answer and in any log or audit line about it: the client's, when safe (request-ids.ts). */
export const REQUEST_ID_HEADER = "x-request-id";
