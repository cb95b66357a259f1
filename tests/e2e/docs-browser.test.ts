/**
 * The docs page in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) opens https://127.0.0.1:PORT/swagger from dist/caas with every request to
 * another origin aborted and counted, and must render the routes from the binary alone.
 * Then a reader's own call from the page: Authorize with an API key, Try it out on /encrypt,
 * Execute, and a 200 with the key sent as Authorization: Bearer.
 * Skipped, with a message, where /usr/bin/chromium is absent (.ci/run installs it).
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { addApiKey, startCaas, type RunningCaas, tempDir } from "./harness.ts";

const CHROMIUM = process.env.CAAS_CHROMIUM ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`docs-browser: ${CHROMIUM} is not installed (apt-get install chromium); the browser test is skipped`);

describe.skipIf(!hasChromium)("the /swagger page in headless Chromium, other hosts blocked", () => {
  let caas: RunningCaas;
  let apiKey: string;
  beforeAll(async () => {
    // The server's directory, removed when it stops: the keys file lives there too.
    const cwd = tempDir();
    const keysFile = join(cwd, "api-keys.json");
    apiKey = addApiKey("docs-reader", keysFile);
    caas = await startCaas({ cwd, env: { CAAS_API_KEYS_FILE: keysFile } });
  });
  afterAll(async () => {
    await caas.stop();
  });

  async function launch(): Promise<Browser> {
    const { chromium } = await import("playwright-core");
    return chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--ignore-certificate-errors",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  }

  it("renders every route from the binary alone and asks no other host for anything", async () => {
    const browser = await launch();
    try {
      const page = await browser.newPage({ ignoreHTTPSErrors: true });
      const origin = new URL(caas.url).origin;
      const outside: string[] = [];
      const served: string[] = [];
      const failed: string[] = [];
      await page.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
        if (new URL(url).origin !== origin) {
          outside.push(url);
          return route.abort("blockedbyclient");
        }
        served.push(url);
        return route.continue();
      });
      page.on("requestfailed", (request) => failed.push(`${request.url()}: ${request.failure()?.errorText}`));
      const consoleErrors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") consoleErrors.push(message.text());
      });
      page.on("pageerror", (error) => consoleErrors.push(error.message));

      const answer = await page.goto(`${caas.url}/swagger`, { waitUntil: "load" });
      expect(answer?.status()).toBe(200);
      // Swagger UI renders one block per operation once it has fetched and parsed the spec.
      await page.waitForSelector(".opblock", { timeout: 15_000 });
      // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText() is the text as rendered, which is what a reader sees
      const text = await page.locator("#swagger-ui").innerText();
      for (const path of ["/oracleinvocation", "/oracleinvocation/decrypt", "/encrypt", "/encode", "/verify", "/healthz", "/readyz"]) {
        expect(text).toContain(path);
      }
      const operations = await page.locator(".opblock").count();
      expect(operations).toBeGreaterThanOrEqual(8);

      expect(outside).toEqual([]);
      expect(failed).toEqual([]);
      expect(consoleErrors).toEqual([]);
      // The page, its stylesheet, its script and the spec, all from caas.
      expect(served.some((url) => url.endsWith("/swagger/json"))).toBe(true);
      expect(served.some((url) => url.endsWith(".js"))).toBe(true);
      expect(served.some((url) => url.endsWith(".css"))).toBe(true);

      // The blocker itself works: a request the page makes to another host is caught and counted.
      await page.evaluate(() => fetch("https://example.invalid/probe").catch(() => undefined));
      expect(outside).toEqual(["https://example.invalid/probe"]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it("authorizes with an API key and runs Try it out on /encrypt, which answers 200 with the key sent as Bearer", async () => {
    const browser = await launch();
    try {
      const page = await browser.newPage({ ignoreHTTPSErrors: true });
      const sent: { url: string; authorization: string | undefined }[] = [];
      page.on("request", (request) => {
        if (request.method() === "POST") sent.push({ url: request.url(), authorization: request.headers().authorization });
      });
      await page.goto(`${caas.url}/swagger`, { waitUntil: "load" });
      await page.waitForSelector(".opblock", { timeout: 15_000 });

      // The Authorize button exists because the document has security schemes; the bearer one takes the key.
      await page.locator(".scheme-container button.authorize").click();
      const bearer = page.locator(".auth-container").filter({ hasText: "bearer" });
      await bearer.locator("input").fill(apiKey);
      await bearer.locator("button.authorize").click();
      await page.locator(".modal-ux button.btn-done").first().click();

      const operation = page.locator(".opblock-post").filter({ has: page.locator('.opblock-summary-path[data-path="/encrypt"]') });
      await operation.locator(".opblock-summary").click();
      await operation.locator("button.try-out__btn").click();
      await operation.locator("button.execute").click();
      const status = operation.locator(".live-responses-table .response .response-col_status");
      await status.first().waitFor({ timeout: 15_000 });
      // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText() is the text as rendered, which is what a reader sees
      expect((await status.first().innerText()).trim()).toBe("200");
      // biome-ignore lint/performance/useDomNodeTextContent: as above
      expect(await operation.locator(".live-responses-table").innerText()).toContain("encrypted_data");

      // Sent to this caas (the document's server is the origin the page came from), with the key as a Bearer token.
      expect(sent).toEqual([{ url: `${caas.url}/encrypt`, authorization: `Bearer ${apiKey}` }]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
