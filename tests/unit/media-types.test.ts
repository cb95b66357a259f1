/**
 * Which media types each body-reading route reads as JSON, walked over every POST route the app
 * declares: the Django original's routes (tagged pseudonym) read any, as the original
 * json.loads()-ed every body; every other route reads application/json and the
 * application/*+json types, as the Flask original's request.get_json() did. On every route a
 * charset other than UTF-8 is refused, with a message that says so.
 */
import { describe, expect, it } from "bun:test";
import { UnsupportedMediaType } from "../../src/errors.ts";
import { testApp } from "./helpers.ts";

const app = testApp();

/** A raw body under `contentType` (null: no Content-Type header at all; a Blob without a type sets none). */
function post(path: string, contentType: string | null, body: string): Promise<Response> {
  const headers: Record<string, string> = contentType === null ? {} : { "content-type": contentType };
  return app.handle(new Request(`http://localhost${path}`, { method: "POST", headers, body: new Blob([body]) }));
}

async function errorOf(answer: Response): Promise<{ code: string; message: string }> {
  return ((await answer.json()) as { error: { code: string; message: string } }).error;
}

const postRoutes = app.routes.filter((route) => route.method === "POST");
const isDjangoRoute = (route: (typeof postRoutes)[number]) =>
  (route.hooks.detail as { tags?: string[] } | undefined)?.tags?.includes("pseudonym") === true;

/** Every spelling of UTF-8 either original took, and the JSON media types the Flask original's get_json() took. */
const JSON_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=UTF8",
  'application/json;charset="UTF-8"',
  "application/json; charset=utf_8",
  "Application/JSON",
  "application/vnd.api+json",
  "application/merge-patch+json; charset=utf-8",
  "application/json; version=2",
];

/** What the Django original also read as JSON (it read any body); a route that wants JSON refuses them. */
const OTHER_TYPES = [
  null,
  "",
  "text/plain",
  "text/plain;charset=UTF-8",
  "application/x-www-form-urlencoded",
  "Application/X-WWW-Form-Urlencoded; charset=utf-8",
  "text/json",
  "application/octet-stream",
  "multipart/form-data; boundary=x",
  "application/xml",
  "text/html",
  "application/jsonx",
  "json",
];

const NOT_UTF8 = [
  "application/json; charset=iso-8859-1",
  "application/json; charset=utf-16",
  "application/json; charset=us-ascii",
  "application/vnd.api+json; charset=windows-1252",
  'application/json; charset="utf-8"; charset=utf-16',
];

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
    it(`${route.path} reads ${django ? "any media type" : "the JSON media types only"}, in UTF-8`, async () => {
      for (const contentType of [...JSON_TYPES, ...OTHER_TYPES]) {
        // {} is JSON, so a route that reads it goes on to the key or the schema; one that does not says 415.
        const code = (await errorOf(await post(route.path, contentType, "{}"))).code;
        expect({ contentType, read: code !== "unsupported_media_type" }).toEqual({
          contentType,
          read: django || JSON_TYPES.includes(contentType ?? ""),
        });
        // Read is read as strict JSON, whatever the type says.
        if (code !== "unsupported_media_type") {
          expect({ contentType, code: (await errorOf(await post(route.path, contentType, "apiKey=x&userUUID=y"))).code }).toEqual({
            contentType,
            code: "invalid_json",
          });
        }
      }
      for (const contentType of [...NOT_UTF8, ...(django ? ["text/plain; charset=latin1", "multipart/form-data; charset=utf-16"] : [])]) {
        expect({ contentType, error: await errorOf(await post(route.path, contentType, "{}")) }).toEqual({
          contentType,
          error: { code: "unsupported_media_type", message: new UnsupportedMediaType("charset").message },
        });
      }
    });
  }

  it("says UTF-8 when it refuses a charset, and the media type when it refuses a type", async () => {
    expect((await errorOf(await post("/oracleinvocation", "application/json; charset=iso-8859-1", "{}"))).message).toContain("UTF-8");
    expect((await errorOf(await post("/oracleinvocation", "text/plain", "{}"))).message).toContain("application/json");
  });
});
