/**
 * Which media types each body-reading route reads as JSON, walked over every POST route the app
 * declares: the Django original's routes (tagged pseudonym) also read what its clients send
 * (form-encoded, plain text, nothing declared), every other route takes application/json only.
 */
import { describe, expect, it } from "bun:test";
import { testApp } from "./helpers.ts";

const app = testApp();

/** A raw body under `contentType` (null: no Content-Type header at all; a Blob without a type sets none). */
function post(path: string, contentType: string | null, body: string): Promise<Response> {
  const headers: Record<string, string> = contentType === null ? {} : { "content-type": contentType };
  return app.handle(new Request(`http://localhost${path}`, { method: "POST", headers, body: new Blob([body]) }));
}

async function codeOf(answer: Response): Promise<string> {
  return ((await answer.json()) as { error: { code: string } }).error.code;
}

const postRoutes = app.routes.filter((route) => route.method === "POST");
const isDjangoRoute = (route: (typeof postRoutes)[number]) =>
  (route.hooks.detail as { tags?: string[] } | undefined)?.tags?.includes("pseudonym") === true;

describe("media types, on every POST route", () => {
  it("covers the Django original's routes and the oracle's", () => {
    expect(
      postRoutes
        .filter(isDjangoRoute)
        .map((route) => route.path)
        .sort(),
    ).toEqual(["/encode", "/encrypt", "/encrypt/batch", "/verify"]);
    expect(postRoutes.filter((route) => !isDjangoRoute(route)).length).toBeGreaterThanOrEqual(3);
  });

  for (const route of postRoutes) {
    const django = isDjangoRoute(route);
    it(`${route.path} ${django ? "reads JSON sent form-encoded, as plain text or undeclared" : "takes application/json only"}`, async () => {
      for (const contentType of [
        null,
        "",
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=utf-8",
      ]) {
        // {} is JSON, so a route that reads it goes on to the key or the schema; one that does not says 415.
        const code = await codeOf(await post(route.path, contentType, "{}"));
        expect({ contentType, code: code === "unsupported_media_type" ? "refused" : "read" }).toEqual({
          contentType,
          code: django ? "read" : "refused",
        });
        if (django)
          expect({ contentType, code: await codeOf(await post(route.path, contentType, "apiKey=x&userUUID=y")) }).toEqual({
            contentType,
            code: "invalid_json",
          });
      }
      for (const contentType of ["multipart/form-data; boundary=x", "application/xml", "text/html"]) {
        expect({ contentType, code: await codeOf(await post(route.path, contentType, "{}")) }).toEqual({
          contentType,
          code: "unsupported_media_type",
        });
      }
    });
  }
});
