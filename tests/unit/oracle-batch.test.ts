/**
 * POST /oracleinvocation/batch through the whole app (app.handle): up to config.batchMax items,
 * each sealed as a single call would be, in order, one item's failure kept to that item. Every
 * result is opened with Web Crypto (crypto/aead.ts), independently of the node:crypto backend
 * that sealed it.
 */
import { describe, expect, it } from "bun:test";
import { open } from "../../src/crypto/aead.ts";
import { fromBase64 } from "../../src/crypto/encoding.ts";
import { defaultConfig } from "../../src/config.ts";
import { type CaasApp, postJson, testApp } from "./helpers.ts";

function appWith(batchMax?: number) {
  return testApp({ config: batchMax === undefined ? {} : { batchMax } });
}

const app = appWith();

interface Box {
  readonly data: string;
  readonly key: string;
  readonly mac: string;
  readonly nonce: string;
}
type Result = Box | { readonly error: { readonly code: string; readonly message: string } };

type BatchAnswer = { results: Result[] } & { error?: { code: string; message: string } };

async function batch(body: unknown, on: CaasApp = app): Promise<{ status: number; json: BatchAnswer; headers: Headers }> {
  const answer = await postJson(on, "/oracleinvocation/batch", body);
  return { status: answer.status, json: (await answer.json()) as BatchAnswer, headers: answer.headers };
}

async function opened(box: Box, aad?: string): Promise<string> {
  const plaintext = await open({
    key: fromBase64(box.key),
    nonce: fromBase64(box.nonce),
    ciphertext: fromBase64(box.data),
    tag: fromBase64(box.mac),
    aad: aad === undefined ? undefined : new TextEncoder().encode(aad),
  });
  return new TextDecoder().decode(plaintext);
}

describe("POST /oracleinvocation/batch", () => {
  it("seals every item, in order, each under its own fresh key and nonce, and Web Crypto opens each to its text", async () => {
    const items = [
      { data: "attack at dawn" },
      { data: "retreat at dusk", aad: "order-43" },
      { data: "" },
      { data: "héllo 🌍" },
      { data: "attack at dawn" },
    ];
    const { status, json, headers } = await batch({ items });
    expect(status).toBe(200);
    expect(headers.get("cache-control")).toBe("no-store");
    expect(json.results).toHaveLength(items.length);
    const boxes = json.results as Box[];
    for (const [index, item] of items.entries()) expect(await opened(boxes[index]!, item.aad)).toBe(item.data);
    expect(new Set(boxes.map((box) => box.key)).size).toBe(items.length);
    expect(new Set(boxes.map((box) => box.nonce)).size).toBe(items.length);
    for (const box of boxes) expect(Object.keys(box).sort()).toEqual(["data", "key", "mac", "nonce"]);
  });

  it("fails only the item whose text has no UTF-8 form, and seals the others", async () => {
    const { status, json } = await batch(
      '{"items":[{"data":"first"},{"data":"\\ud800"},{"data":"third","aad":"\\udfff"},{"data":"fourth"}]}',
    );
    expect(status).toBe(200);
    const [first, second, third, fourth] = json.results;
    expect(await opened(first as Box)).toBe("first");
    expect(second).toEqual({
      error: { code: "invalid_text", message: "Field 'data' holds a lone UTF-16 surrogate, which has no UTF-8 form." },
    });
    expect(third).toEqual({
      error: { code: "invalid_text", message: "Field 'aad' holds a lone UTF-16 surrogate, which has no UTF-8 form." },
    });
    expect(await opened(fourth as Box)).toBe("fourth");
  });

  it("answers an empty list with an empty list", async () => {
    expect(await batch({ items: [] })).toMatchObject({ status: 200, json: { results: [] } });
  });

  it("refuses the whole request, 400 invalid_body, when an item is wrongly typed, has an unknown field or is missing data", async () => {
    for (const items of [
      [{ data: "ok" }, { data: 42 }],
      [{ data: "ok" }, { data: "ok", add: "typo" }],
      [{ aad: "only" }],
      ["text"],
      [null],
    ]) {
      const { status, json } = await batch({ items });
      expect(status).toBe(400);
      expect(json.error?.code).toBe("invalid_body");
    }
  });

  it("names the item and field that is wrongly typed, without repeating its value", async () => {
    const { json } = await batch({ items: [{ data: "ok" }, { data: "ok" }, { data: 1234567 }] });
    expect(json.error?.message).toContain("items/2/data");
    expect(json.error?.message).not.toContain("1234567");
  });

  it("has no envelope mode: a wrap_with beside the items is an unknown field (400), not a reason to ask for a key", async () => {
    for (const path of ["/oracleinvocation/batch", "/oracleinvocation/batch/"]) {
      const answer = await postJson(app, path, { items: [{ data: "x" }], wrap_with: "orders" });
      expect(answer.status).toBe(400);
      expect(((await answer.json()) as BatchAnswer).error?.code).toBe("invalid_body");
    }
  });

  it("refuses a body that is not an object with an items list, 400 invalid_body", async () => {
    for (const body of [[], { data: "single-call shape" }, { items: "x" }, { items: [], extra: 1 }]) {
      const { status, json } = await batch(body);
      expect(status).toBe(400);
      expect(json.error?.code).toBe("invalid_body");
    }
  });

  it("takes exactly CAAS_BATCH_MAX items and refuses one more with 413 batch_too_large, before checking the items", async () => {
    const small = appWith(3);
    expect((await batch({ items: [{ data: "a" }, { data: "b" }, { data: "c" }] }, small)).status).toBe(200);
    const over = await batch({ items: [{ data: "a" }, { data: "b" }, { data: "c" }, { data: "d" }] }, small);
    expect(over.status).toBe(413);
    expect(over.json.error).toEqual({ code: "batch_too_large", message: "A batch holds at most 3 items; split it into several requests." });
    // Oversized and wrongly typed at once: the size is what is reported.
    expect((await batch({ items: [1, 2, 3, 4] }, small)).json.error?.code).toBe("batch_too_large");
  });

  it("defaults to 1,000 items", async () => {
    expect(defaultConfig().batchMax).toBe(1000);
    const items = Array.from({ length: 1000 }, (_, index) => ({ data: `item ${index}` }));
    const { status, json } = await batch({ items });
    expect(status).toBe(200);
    expect(json.results).toHaveLength(1000);
    expect(await opened(json.results[999] as Box)).toBe("item 999");
    expect((await batch({ items: [...items, { data: "one more" }] })).status).toBe(413);
  });

  it("keeps the single call's framing rules: media type, JSON and UTF-8", async () => {
    const wrongType = await app.handle(
      new Request("http://localhost/oracleinvocation/batch", { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }),
    );
    expect(wrongType.status).toBe(415);
    expect((await batch("{not json")).json.error?.code).toBe("invalid_json");
  });

  it("is also served with a trailing slash, and only for POST", async () => {
    const slash = await app.handle(
      new Request("http://localhost/oracleinvocation/batch/", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"items":[{"data":"x"}]}',
      }),
    );
    expect(slash.status).toBe(200);
    const get = await app.handle(new Request("http://localhost/oracleinvocation/batch"));
    expect(get.status).toBe(405);
  });
});
