/** The build-ups' steps and routes, shared by the servers that are the steps (layers.ts) and the load run that drives them (load.ts). */

/** The build-up's steps, in order: each adds one piece to the one before. */
export const BUILDUP = ["ref", "headers", "request", "errors", "audit", "parser", "schema", "caller", "app", "served", "by-hand"] as const;
/** The keyed routes' steps: the oracle's plumbing (headers to body reader) is one step here, already broken down above. */
export const KEYED_BUILDUPS = {
  encrypt: ["ref", "plumbing", "key", "pseudonym", "module", "app", "served"],
  keyring: ["ref", "xaes", "framing", "plumbing", "key", "module", "app", "served", "by-hand"],
} as const;
export type Layer = (typeof BUILDUP)[number] | (typeof KEYED_BUILDUPS)[keyof typeof KEYED_BUILDUPS][number];
export const BUILDUP_ROUTES = ["oracle", "encrypt", "encrypt-spread", "keyring"] as const;
export type BuildupRoute = (typeof BUILDUP_ROUTES)[number];

/** A route's steps, in order. */
export function stepsOf(route: BuildupRoute): readonly Layer[] {
  if (route === "oracle") return BUILDUP;
  return KEYED_BUILDUPS[route === "keyring" ? "keyring" : "encrypt"];
}

/** Where each route's build-up is driven. */
export const BUILDUP_PATHS: Readonly<Record<BuildupRoute, string>> = {
  oracle: "/oracleinvocation/",
  encrypt: "/encrypt",
  "encrypt-spread": "/encrypt",
  keyring: "/keyring/bench/encrypt",
};

// BENCH FIXTURE, not a secret: the one API key of the keyed build-ups' in-memory store.
export const BENCH_API_KEY = "caas_bench-layers-key-not-a-secret-0123456789ab";
