/** One spelling per route: "/oracleinvocation/" and "/oracleinvocation" are the same endpoint (Elysia's strictPath: false). */
export function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/**
 * Where the path starts in request.url. Bun gives an absolute URL ("https://host/p?q") when the
 * request names a usable Host, and the bare target ("/p?q", or "host:port" for CONNECT) when it
 * does not; so the path starts at 0 or after the scheme's "//", never at a fixed offset (a Host of
 * one or two characters would put another "/" there). -1: the target has no path.
 * patches/elysia@1.4.30.patch makes Elysia's router find it the same way.
 */
export function pathStart(url: string): number {
  return url.charCodeAt(0) === 47 ? 0 : url.indexOf("/", url.indexOf("//") + 2);
}

/** The path of request.url without its query; "" for a target with no path (CONNECT's host:port). */
export function pathOf(url: string): string {
  const start = pathStart(url);
  if (start < 0) return "";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

/** "." and "..", also percent-encoded ("%2e", ".%2E", ...): a segment a URL parser would resolve away. */
function isDotSegment(segment: string): boolean {
  const dots = segment.replace(/%2e/gi, ".");
  return dots === "." || dots === "..";
}

/**
 * Why caas refuses a request-target, or undefined for one it routes. RFC 9112 gives a target no
 * fragment; dot segments are refused, not resolved, so a path rule in a proxy in front of caas and
 * caas's own routing cannot read one target as two different paths; a target without a path is
 * CONNECT's authority form, which caas does not serve.
 */
export type TargetProblem = "fragment" | "dot_segment" | "no_path";

export function targetProblem(url: string): TargetProblem | undefined {
  if (url.includes("#")) return "fragment";
  const path = pathOf(url);
  if (path.charCodeAt(0) !== 47) return "no_path";
  // The common target has no "." at all; only then is it split.
  if (path.includes(".") || path.includes("%")) {
    for (const segment of path.split("/")) if (isDotSegment(segment)) return "dot_segment";
  }
  return undefined;
}

/** One segment's place in RouteMatcher's tree: the routes that end here, and where each next segment leads. */
interface SegmentNode<T> {
  value: T | undefined;
  readonly literal: Map<string, SegmentNode<T>>;
  /** Where a ":param" segment leads: any one non-empty segment. */
  param: SegmentNode<T> | undefined;
}

const newNode = <T>(): SegmentNode<T> => ({ value: undefined, literal: new Map(), param: undefined });

/**
 * Finds which declared route a request path is, where routes may have ":param" segments
 * ("/keyring/:name/encrypt"): exact paths by one Map lookup, patterns by walking a tree one
 * segment at a time (literal segments before parameters), so a lookup costs the same however
 * many routes there are. Used wherever a path is named by its route rather than as sent (405's
 * Allow, metrics labels, the dot-segment check), so a path with a key name in it is still its route.
 */
export class RouteMatcher<T> {
  readonly #exact = new Map<string, T>();
  readonly #patterns: SegmentNode<T> = newNode();
  #hasPatterns = false;

  add(pattern: string, value: T): void {
    const bare = withoutTrailingSlash(pattern);
    if (!bare.includes("/:")) {
      this.#exact.set(bare, value);
      return;
    }
    let node = this.#patterns;
    for (const segment of bare.split("/")) {
      if (segment.startsWith(":")) {
        node.param ??= newNode();
        node = node.param;
      } else {
        let next = node.literal.get(segment);
        if (next === undefined) {
          next = newNode();
          node.literal.set(segment, next);
        }
        node = next;
      }
    }
    // Of two patterns with the same segments, the first declared is the one matched.
    node.value ??= value;
    this.#hasPatterns = true;
  }

  /** The value of the route `path` (a trailing slash ignored) is, or undefined. */
  match(path: string): T | undefined {
    const bare = withoutTrailingSlash(path);
    const exact = this.#exact.get(bare);
    if (exact !== undefined || !this.#hasPatterns) return exact;
    return matchFrom(this.#patterns, bare.split("/"), 0);
  }
}

/** The value at the end of `segments` from `node` on, a literal segment tried before a parameter. */
function matchFrom<T>(node: SegmentNode<T>, segments: readonly string[], at: number): T | undefined {
  if (at === segments.length) return node.value;
  const segment = segments[at] ?? "";
  const literal = node.literal.get(segment);
  const found = literal === undefined ? undefined : matchFrom(literal, segments, at + 1);
  if (found !== undefined || node.param === undefined || segment === "") return found;
  return matchFrom(node.param, segments, at + 1);
}

/** A ":param" segment matches any one non-empty segment; every other segment matches itself. */
function segmentsMatch(pattern: readonly string[], segments: readonly string[]): boolean {
  if (pattern.length !== segments.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i] ?? "";
    const actual = segments[i] ?? "";
    if (expected.startsWith(":") ? actual === "" : expected !== actual) return false;
  }
  return true;
}

/** Whether `path` is the route `pattern` (":param" segments match any one segment). */
export function pathMatchesRoute(pattern: string, path: string): boolean {
  return segmentsMatch(withoutTrailingSlash(pattern).split("/"), withoutTrailingSlash(path).split("/"));
}
