/**
 * Type-checked, never run: what `App` from caas/client promises a consumer's compiler. Each
 * `@ts-expect-error` must meet an error, so were the type to decay to `any` (a declaration that
 * no longer resolves, say), tsc would fail here instead of passing everything.
 */
import { treaty } from "@elysiajs/eden";
import type { App } from "caas/client";

const caas = treaty<App>("https://caas.internal:8443");

export async function contract(): Promise<void> {
  const made = await caas.encrypt.post({ userUUID: "4dbcbcfe-4800-40a8-badf-c26b73af230c", sensitiveData: "x" });
  if (made.data !== null) {
    const digest: string = made.data.encrypted_data;
    void digest;
    // @ts-expect-error a django-compat key's answer has no version, so it is not always there
    const version: number = made.data.version;
    void version;
  }
  // @ts-expect-error sensitiveData is required
  await caas.encrypt.post({ userUUID: "4dbcbcfe-4800-40a8-badf-c26b73af230c" });
  // @ts-expect-error an unknown field is refused by the type (and by caas on its own routes, /verify among them)
  await caas.verify.post({ userUUID: "u", sensitiveData: "x", encrypted_data: "ab", add: "typo" });

  const sealed = await caas.keyring({ name: "dev" }).encrypt.post({ data: "x", encoding: "utf8" });
  if (sealed.data !== null) {
    const version: number = sealed.data.version;
    void version;
  }
  if (sealed.error !== null && sealed.error.status === 403) {
    const code: string = sealed.error.value.error.code;
    void code;
  }
  // @ts-expect-error encoding is utf8 or base64
  await caas.keyring({ name: "dev" }).encrypt.post({ data: "x", encoding: "hex" });

  const verified = await caas.verify.post({ userUUID: "u", sensitiveData: "x", encrypted_data: "ab" });
  if (verified.data !== null) {
    const match: boolean = verified.data.match;
    void match;
  }

  // @ts-expect-error caas has no such route
  await caas.nonexistent.post({});
}

/** docs/api.md's typed client, as written there: the answer is narrowed once the error is handled. */
export async function documented(user: { id: string; email: string }, store: (id: string, digest: string, version?: number) => void) {
  const { data, error } = await caas.encrypt.post({ userUUID: user.id, sensitiveData: user.email });
  if (error) throw new Error(`caas answered ${error.status}`);
  store(user.id, data.encrypted_data, "version" in data ? data.version : undefined);
}
