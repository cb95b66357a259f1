/**
 * POST /encrypt/batch through the whole app (app.handle): one API key for the batch, each item
 * answered exactly as POST /encrypt answers it, in order, one item's failure kept to that item.
 */
import { describe, expect, it } from "bun:test";
import { postForJson, testApp } from "./helpers.ts";
import { README_USER } from "../../support/constants.ts";

const STANDARD_KEY = "standard-key-for-batch-tests-0123456789";
const COMPAT_KEY = "compat-key-for-batch-tests-0123456789";
const USERS = [README_USER, "0b5ad8e9-6b5f-4a2b-9c1e-7f3d2a1b0c9d", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"];

function appWith(batchMax?: number) {
  const apiKeys = [
    { name: "main-server", key: STANDARD_KEY },
    { name: "legacy", key: COMPAT_KEY, profile: "django-compat" as const },
  ];
  return testApp({ apiKeys, config: batchMax === undefined ? {} : { batchMax } });
}

const app = appWith();

interface ItemAnswer {
  readonly encrypted_data?: string;
  readonly version?: number;
  readonly error?: { readonly code: string };
}
/** A batch's answer, a single item's answer, or an error: the tests read the part they expect. */
interface Answer extends ItemAnswer {
  readonly results: ItemAnswer[];
}

describe("POST /encrypt/batch", () => {
  it("answers every item as POST /encrypt does, in order", async () => {
    const items = USERS.flatMap((userUUID) => [
      { userUUID, sensitiveData: "a" },
      { userUUID, sensitiveData: "b" },
    ]);
    const { status, json } = await postForJson<Answer>(app, "/encrypt/batch", { apiKey: STANDARD_KEY, items });
    expect(status).toBe(200);
    expect(json.results).toHaveLength(items.length);
    for (const [index, item] of items.entries()) {
      const single = await postForJson<Answer>(app, "/encrypt", { apiKey: STANDARD_KEY, ...item });
      expect(json.results[index]).toEqual(single.json);
    }
  });

  it("takes the key from a header as well as from the body", async () => {
    const items = [{ userUUID: USERS[0], sensitiveData: "x" }];
    const fromBody = await postForJson<Answer>(app, "/encrypt/batch", { apiKey: STANDARD_KEY, items });
    const fromHeader = await postForJson<Answer>(app, "/encrypt/batch", { items }, { authorization: `Bearer ${STANDARD_KEY}` });
    expect(fromHeader).toEqual(fromBody);
  });

  it("fails only the item whose userUUID is not a UUID (standard key), and answers the others", async () => {
    const { status, json } = await postForJson<Answer>(app, "/encrypt/batch", {
      apiKey: STANDARD_KEY,
      items: [
        { userUUID: USERS[0], sensitiveData: "x" },
        { userUUID: "not-a-uuid", sensitiveData: "x" },
        { userUUID: USERS[1], sensitiveData: "x" },
      ],
    });
    expect(status).toBe(200);
    expect(json.results[0]?.encrypted_data).toMatch(/^[0-9a-f]+$/);
    expect(json.results[1]?.error?.code).toBe("invalid_uuid");
    expect(json.results[2]?.encrypted_data).toMatch(/^[0-9a-f]+$/);
  });

  it("answers a django-compat key's items with that profile, any userUUID accepted", async () => {
    const item = { userUUID: "any user id at all", sensitiveData: "x" };
    const { json } = await postForJson<Answer>(app, "/encrypt/batch", { apiKey: COMPAT_KEY, items: [item] });
    expect(json.results).toEqual([(await postForJson<Answer>(app, "/encrypt", { apiKey: COMPAT_KEY, ...item })).json]);
    // The original's answer, field for field: no secret version.
    expect(Object.keys(json.results[0]!)).toEqual(["encrypted_data"]);
  });

  it("is 401 without a valid key, whatever else is wrong, an oversized batch included", async () => {
    const small = appWith(1);
    for (const body of [
      { items: [] },
      { apiKey: "wrong", items: [{ userUUID: USERS[0], sensitiveData: "x" }] },
      { apiKey: 42, items: "nonsense" },
      { items: [1, 2, 3] },
    ]) {
      const { status, json } = await postForJson<Answer>(small, "/encrypt/batch", body);
      expect(status).toBe(401);
      expect(json.error?.code).toBe("unauthorized");
    }
  });

  it("takes exactly CAAS_BATCH_MAX items and refuses one more with 413 batch_too_large", async () => {
    const small = appWith(2);
    const item = { userUUID: USERS[0], sensitiveData: "x" };
    expect((await postForJson<Answer>(small, "/encrypt/batch", { apiKey: STANDARD_KEY, items: [item, item] })).status).toBe(200);
    const over = await postForJson<Answer>(small, "/encrypt/batch", { apiKey: STANDARD_KEY, items: [item, item, item] });
    expect(over.status).toBe(413);
    expect(over.json.error?.code).toBe("batch_too_large");
  });

  it("refuses the whole request, 400 invalid_body, when an item is wrongly typed or has an unknown field", async () => {
    for (const items of [
      [{ userUUID: USERS[0], sensitiveData: 1 }],
      [{ userUUID: USERS[0], sensitiveData: "x", apiKey: STANDARD_KEY }],
      [{ userUUID: USERS[0] }],
    ]) {
      const { status, json } = await postForJson<Answer>(app, "/encrypt/batch", { apiKey: STANDARD_KEY, items });
      expect(status).toBe(400);
      expect(json.error?.code).toBe("invalid_body");
    }
  });
});
