/**
 * The docs page in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) opens https://127.0.0.1:PORT/swagger from dist/caas with every request to
 * another origin aborted and counted, and must render the routes from the binary alone.
 * Skipped, with a message, where /usr/bin/chromium is absent (.ci/run installs it).
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { startCaas, type RunningCaas } from "./harness.ts";

const CHROMIUM = process.env.CAAS_CHROMIUM ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`docs-browser: ${CHROMIUM} is not installed (apt-get install chromium); the browser test is skipped`);

describe.skipIf(!hasChromium)("the /swagger page in headless Chromium, other hosts blocked", () => {
  let caas: RunningCaas;
  beforeAll(async () => {
    caas = await startCaas();
  });
  afterAll(async () => {
    await caas.stop();
  });

  it("renders every route from the binary alone and asks no other host for anything", async () => {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
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
});
