/** One spelling per route: "/oracleinvocation/" and "/oracleinvocation" are the same endpoint (Elysia's strictPath: false). */
export function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}
