/** The build-ups' steps and routes, shared by the servers that are the steps (layers.ts) and the load run that drives them (load.ts). */

/** The build-up's steps, in order: each adds one piece to the one before. */
export const BUILDUP = ["ref", "headers", "request", "errors", "audit", "parser", "schema", "caller", "app", "served", "by-hand"] as const;
/** The keyed routes' steps: the oracle's plumbing (headers to body reader) is one step here, already broken down above. */
export const KEYED_BUILDUPS = {
  encrypt: ["ref", "plumbing", "key", "pseudonym", "module", "app", "served"],
  keyring: ["ref", "xaes", "framing", "plumbing", "key", "module", "app", "served", "by-hand"],
} as const;
/**
 * The oracle's by-hand step built up from the hand-written oracle's work in a plain fetch, one of
 * caas's pieces at a time (`oracle-by-hand`): where the by-hand step's cost over the hand-written
 * server goes, with no framework in the way.
 */
export const BY_HAND_PIECES = ["plain", "target", "request-id", "reader", "schema", "answer-headers", "audit", "metrics"] as const;
export type ByHandPiece = (typeof BY_HAND_PIECES)[number];
/** Whether a by-hand step that goes up to `upTo` has `piece` in it. */
export function reaches(upTo: ByHandPiece, piece: ByHandPiece): boolean {
  return BY_HAND_PIECES.indexOf(piece) <= BY_HAND_PIECES.indexOf(upTo);
}
/** After the pieces, the whole by-hand step with its answer headers given to Bun in another form than a plain object. */
export const ANSWER_HEADER_FORMS = ["headers-cloned", "headers-entries"] as const;
export type AnswerHeaderForm = (typeof ANSWER_HEADER_FORMS)[number];
export type Layer =
  | (typeof BUILDUP)[number]
  | (typeof KEYED_BUILDUPS)[keyof typeof KEYED_BUILDUPS][number]
  | ByHandPiece
  | AnswerHeaderForm;
export const BUILDUP_ROUTES = ["oracle", "encrypt", "encrypt-spread", "keyring", "oracle-by-hand"] as const;
export type BuildupRoute = (typeof BUILDUP_ROUTES)[number];
/** The build-ups driven with the oracle's request, no API key. */
export const drivesOracle = (route: string): boolean => route === "oracle" || route === "oracle-by-hand";

/** A route's steps, in order. */
export function stepsOf(route: BuildupRoute): readonly Layer[] {
  if (route === "oracle") return BUILDUP;
  if (route === "oracle-by-hand") return [...BY_HAND_PIECES, ...ANSWER_HEADER_FORMS];
  return KEYED_BUILDUPS[route === "keyring" ? "keyring" : "encrypt"];
}

/** Where each route's build-up is driven. */
export const BUILDUP_PATHS: Readonly<Record<BuildupRoute, string>> = {
  oracle: "/oracleinvocation/",
  "oracle-by-hand": "/oracleinvocation/",
  encrypt: "/encrypt",
  "encrypt-spread": "/encrypt",
  keyring: "/keyring/bench/encrypt",
};

// BENCH FIXTURE, not a secret: the one API key of the keyed build-ups' in-memory store.
export const BENCH_API_KEY = "caas_bench-layers-key-not-a-secret-0123456789ab";
