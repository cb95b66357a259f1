/**
 * What a start does not evaluate: the django-compat profile (its pool, its ten hashes and BLAKE3)
 * loads on the first request under a key on that profile (src/modules/pseudonym/service.ts).
 * Checked in a fresh process, where no other test has loaded it: the app built with a compat key,
 * then that key's first /encrypt, which must answer the original's digest all the same.
 */
import { describe, expect, it } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const README_DIGEST = "35db2f10e244a19686cf929071a80ac7029ad03cff2b7aebff4bac148c7dd32f64cf96c0b4122eb61f4ced1bba6672c1";

// TEST FIXTURE, not a secret: the Django original's README key.
const SCRIPT = `
import { postJson, testApp } from "./tests/unit/helpers.ts";
import { README_USER } from "./support/constants.ts";
const profileModules = () => Object.keys(require.cache).filter((path) => path.includes("/django-compat/") && !path.endsWith("/digest-length.ts"));
const app = testApp({ apiKeys: [{ name: "legacy", key: "example_api_key", profile: "django-compat" }] });
const atStart = profileModules();
const answer = await postJson(app, "/encrypt", { apiKey: "example_api_key", userUUID: README_USER, sensitiveData: "example sensitive data" });
console.log(JSON.stringify({ atStart, status: answer.status, answer: await answer.json(), afterUse: profileModules().length }));
`;

describe("the django-compat profile", () => {
  it("is not evaluated when the app is built, and answers the original's digest on its first use", () => {
    const run = Bun.spawnSync([process.execPath, "-e", SCRIPT], { cwd: ROOT, stderr: "pipe" });
    expect(run.stderr.toString()).toBe("");
    const seen = JSON.parse(run.stdout.toString()) as { atStart: string[]; status: number; answer: unknown; afterUse: number };
    expect(seen.atStart).toEqual([]);
    expect(seen.status).toBe(200);
    expect(seen.answer).toEqual({ encrypted_data: README_DIGEST });
    expect(seen.afterUse).toBeGreaterThan(0);
  });
});
