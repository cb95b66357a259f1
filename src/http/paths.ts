/** One spelling per route: "/oracleinvocation/" and "/oracleinvocation" are the same endpoint (Elysia's strictPath: false). */
export function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/** The path of an absolute URL, without its query: read once, sliced once, no array per request. */
export function pathOfUrl(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}
