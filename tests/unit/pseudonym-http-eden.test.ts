/**
 * The typed client the README shows: Eden Treaty over the exported CaasApp type. Handing treaty
 * the app itself makes its calls go through app.handle, so this checks both that the types
 * line up (tsc runs over tests) and that the calls work.
 */
import { describe, expect, it } from "bun:test";
import { treaty } from "@elysiajs/eden";
import { type CaasApp, testApp } from "./helpers.ts";
import { README_USER } from "../../support/constants.ts";

const KEY = "standard-key-for-eden-0123456789";

const app: CaasApp = testApp({ apiKeys: [{ name: "main-server", key: KEY }] });
const caas = treaty(app, { headers: { authorization: `Bearer ${KEY}` } });

describe("the Eden Treaty client", () => {
  it("gets a typed pseudonym and verifies it", async () => {
    const made = await caas.encrypt.post({ userUUID: README_USER, sensitiveData: "example sensitive data" });
    expect(made.error).toBeNull();
    if (made.data === null) throw new Error("no answer");
    // Typed: encrypted_data is a string and, for a standard key, version a number, with no casts.
    const digest: string = made.data.encrypted_data;
    if (!("version" in made.data)) throw new Error("a standard key's answer carries its secret version");
    const version: number = made.data.version;
    expect(digest).toMatch(/^[0-9a-f]+$/);
    expect(version).toBe(1);

    const checked = await caas.verify.post({ userUUID: README_USER, sensitiveData: "example sensitive data", encrypted_data: digest });
    expect(checked.data?.match).toBe(true);
  });

  it("reports a failure as a typed error with its status", async () => {
    const anonymous = treaty(app);
    const refused = await anonymous.encode.post({ userUUID: README_USER, sensitiveData: "x" });
    expect(refused.data).toBeNull();
    expect(refused.error?.status).toBe(401);
  });
});
