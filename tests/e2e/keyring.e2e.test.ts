/**
 * The keyring as an operator and a client meet it through dist/caas over TLS: the CLI flow
 * (root key, keyring, scoped API keys, serve, encrypt, rotate + SIGHUP, rewrap, retire + SIGHUP,
 * trim), the oracle's envelope mode, a data key used by another program (Node's OpenSSL), 403
 * for every missing scope, the oracle under CAAS_ORACLE_REQUIRE_KEY, a keyring under the wrong root key refused at start (exit 78, one
 * line), two instances sharing the files, commands run at once, and development mode.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, cli, makeTestPki, type RunningCaas, reloadAndWait, startCaas, tempDir } from "./harness.ts";
import { README_USER } from "../../support/constants.ts";

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function caas(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Result> {
  const child = Bun.spawn([BINARY, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cwd, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

function privateDir(): string {
  const dir = tempDir("caas-keyring-e2e-");
  chmodSync(dir, 0o700);
  return dir;
}

const pki = makeTestPki();
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  readonly dir: string;
  readonly files: { readonly rootKey: string; readonly keyring: string; readonly apiKeys: string };
  /** API keys by what they may do. */
  readonly keys: Record<string, string>;
  readonly keyring: (...args: string[]) => Promise<Result>;
}

const SCOPED = {
  whole: ["keyring:orders", "oracle"],
  encrypt: ["keyring:orders:encrypt"],
  decrypt: ["keyring:orders:decrypt"],
  rewrap: ["keyring:orders:rewrap"],
  datakey: ["keyring:orders:datakey"],
  pseudonym: [],
  other: ["keyring:invoices"],
} as const satisfies Record<string, readonly string[]>;

async function setUp(): Promise<Setup> {
  const dir = privateDir();
  dirs.push(dir);
  const files = { rootKey: join(dir, "root-key"), keyring: join(dir, "keyring.json"), apiKeys: join(dir, "api-keys.json") };
  const init = await caas(["root-key", "init", files.rootKey], dir);
  expect(init.code).toBe(0);
  expect(readFileSync(files.rootKey).length).toBe(32);
  const keyring = (...args: string[]) => caas(["keyring", ...args, "--file", files.keyring, "--root-key", files.rootKey], dir);
  expect((await keyring("create", "orders")).code).toBe(0);
  expect((await keyring("create", "invoices")).code).toBe(0);
  const keys: Record<string, string> = {};
  for (const [name, scopes] of Object.entries(SCOPED)) {
    const added = await caas(["keys", "add", name, "--file", files.apiKeys, ...scopes.flatMap((scope) => ["--scope", scope])], dir);
    expect(added.code).toBe(0);
    keys[name] = added.stdout.trimEnd().split("\n").at(-1) ?? "";
  }
  return { dir, files, keys, keyring };
}

function serverEnv(files: Setup["files"]): Record<string, string> {
  return { CAAS_KEYRING_FILE: files.keyring, CAAS_ROOT_KEY_FILE: files.rootKey, CAAS_API_KEYS_FILE: files.apiKeys };
}

async function call(
  server: RunningCaas,
  path: string,
  body: unknown,
  key?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await server.post(path, body, key === undefined ? {} : { authorization: `Bearer ${key}` });
  return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
}

function codeOf(answer: { body: Record<string, unknown> }): string | undefined {
  return (answer.body.error as { code?: string } | undefined)?.code;
}

describe("the keyring through the CLI and the API", () => {
  it("encrypts, rotates in one step (--activate-in 0) on SIGHUP, rewraps, retires the old version and trims it", async () => {
    const { files, keys, keyring } = await setUp();
    const server = await startCaas({ pki, env: serverEnv(files) });
    try {
      const first = await call(server, "/keyring/orders/encrypt", { data: "card 4242", aad: "customer-7" }, keys.whole);
      expect(first.status).toBe(200);
      expect(first.body.version).toBe(1);
      expect(first.body.ciphertext as string).toMatch(/^caas:v1:[A-Za-z0-9+/]+=*$/);

      expect((await keyring("rotate", "orders", "--activate-in", "0")).code).toBe(0);
      await reloadAndWait(server);
      const second = await call(server, "/keyring/orders/encrypt", { data: "card 4343" }, keys.whole);
      expect(second.body.version).toBe(2);
      expect(await call(server, "/keyring/orders/decrypt", { ciphertext: first.body.ciphertext, aad: "customer-7" }, keys.whole)).toEqual({
        status: 200,
        body: { data: "card 4242" },
      });
      expect(codeOf(await call(server, "/keyring/orders/decrypt", { ciphertext: first.body.ciphertext }, keys.whole))).toBe(
        "authentication_failed",
      );

      const rewrapped = await call(server, "/keyring/orders/rewrap", { ciphertext: first.body.ciphertext, aad: "customer-7" }, keys.whole);
      expect(rewrapped.status).toBe(200);
      expect(rewrapped.body.version).toBe(2);
      expect(rewrapped.body.ciphertext as string).toStartWith("caas:v2:");
      expect(JSON.stringify(rewrapped.body)).not.toContain("card");

      expect((await keyring("set", "orders", "--min-decryption-version", "2")).code).toBe(0);
      await reloadAndWait(server);
      const retired = await call(server, "/keyring/orders/decrypt", { ciphertext: first.body.ciphertext, aad: "customer-7" }, keys.whole);
      expect({ status: retired.status, code: codeOf(retired) }).toEqual({ status: 400, code: "key_version_retired" });
      expect(
        (await call(server, "/keyring/orders/decrypt", { ciphertext: rewrapped.body.ciphertext, aad: "customer-7" }, keys.whole)).body,
      ).toEqual({ data: "card 4242" });

      const refused = await keyring("trim", "orders", "--below", "3");
      expect(refused.code).toBe(78);
      expect(refused.stderr.trimEnd().split("\n")).toHaveLength(1);
      const trimmed = await keyring("trim", "orders", "--below", "2");
      expect(trimmed.code).toBe(0);
      await reloadAndWait(server);
      const listed = JSON.parse((await keyring("list", "--json")).stdout) as {
        keys: { name: string; min_decryption_version: number; versions: { version: number }[] }[];
      };
      const orders = listed.keys.find((key) => key.name === "orders");
      expect(orders?.min_decryption_version).toBe(2);
      expect(orders?.versions.map((entry) => entry.version)).toEqual([2]);
      expect(
        codeOf(await call(server, "/keyring/orders/decrypt", { ciphertext: first.body.ciphertext, aad: "customer-7" }, keys.whole)),
      ).toBe("key_version_retired");
      expect((await call(server, "/keyring/orders/decrypt", { ciphertext: second.body.ciphertext }, keys.whole)).body).toEqual({
        data: "card 4343",
      });

      // Nothing a command printed, nor anything the server logged, holds key material or plaintext.
      const text = (await keyring("list")).stdout;
      expect(text).toMatch(/^orders\tversions 2\tmin 2\t/m);
      const stored = JSON.parse(readFileSync(files.keyring, "utf8")) as { keys: { versions: { key: string }[] }[] };
      for (const key of stored.keys) for (const version of key.versions) expect(`${text}${server.output()}`).not.toContain(version.key);
      expect(server.output()).not.toContain("card");
    } finally {
      await server.stop();
    }
  }, 60_000);

  it("keeps the running keyring when a reloaded file is bad, and says why", async () => {
    const { files, keys } = await setUp();
    const server = await startCaas({ pki, env: serverEnv(files) });
    try {
      const sealed = await call(server, "/keyring/orders/encrypt", { data: "x" }, keys.whole);
      await Bun.write(files.keyring, "not json");
      chmodSync(files.keyring, 0o600);
      await reloadAndWait(server);
      expect(server.output()).toMatch(/"event":"reload_failed"[^\n]*keyring file [^\n]*not JSON/);
      expect((await call(server, "/keyring/orders/decrypt", { ciphertext: sealed.body.ciphertext }, keys.whole)).body).toEqual({
        data: "x",
      });
    } finally {
      await server.stop();
    }
  }, 30_000);

  it("gives 403 forbidden for every operation a key has no scope for, on known and unknown names alike", async () => {
    const { files, keys } = await setUp();
    const server = await startCaas({ pki, env: serverEnv(files) });
    try {
      const sealed = (await call(server, "/keyring/orders/encrypt", { data: "x" }, keys.whole)).body.ciphertext;
      const operations: Record<string, unknown> = {
        encrypt: { data: "x" },
        decrypt: { ciphertext: sealed },
        rewrap: { ciphertext: sealed },
        datakey: {},
        "encrypt/batch": { items: [{ data: "x" }] },
        "decrypt/batch": { items: [{ ciphertext: sealed }] },
        "rewrap/batch": { items: [{ ciphertext: sealed }] },
      };
      let forbidden: Record<string, unknown> | undefined;
      for (const [operation, body] of Object.entries(operations)) {
        const scope = operation.split("/")[0] ?? operation;
        for (const holder of ["encrypt", "decrypt", "rewrap", "datakey", "pseudonym", "other"]) {
          for (const name of ["orders", "no-such-key"]) {
            const answer = await call(server, `/keyring/${name}/${operation}`, body, keys[holder]);
            // A one-operation scope names its key: on any other name it is no scope (403, not 404).
            const expected = holder === scope && name === "orders" ? 200 : 403;
            expect({ holder, operation, name, status: answer.status }).toEqual({ holder, operation, name, status: expected });
            // Word for word the same refusal everywhere: nothing in it tells a name that exists from one that does not.
            if (expected === 403) {
              forbidden ??= answer.body;
              expect({ holder, operation, name, body: answer.body }).toEqual({ holder, operation, name, body: forbidden });
            }
          }
        }
        expect((await call(server, `/keyring/orders/${operation}`, body)).status).toBe(401);
      }
      expect(forbidden).toEqual({ error: { code: "forbidden", message: expect.any(String) } });
      // The envelope oracle: datakey to seal, decrypt to open.
      const envelope = await call(server, "/oracleinvocation/", { data: "x", wrap_with: "orders" }, keys.decrypt);
      expect({ status: envelope.status, code: codeOf(envelope) }).toEqual({ status: 403, code: "forbidden" });
      const sealedEnvelope = await call(server, "/oracleinvocation/", { data: "x", wrap_with: "orders" }, keys.datakey);
      expect(sealedEnvelope.status).toBe(200);
      const open = {
        data: sealedEnvelope.body.data,
        mac: sealedEnvelope.body.mac,
        nonce: sealedEnvelope.body.nonce,
        wrapped_key: sealedEnvelope.body.wrapped_key,
        wrap_with: "orders",
      };
      expect((await call(server, "/oracleinvocation/decrypt", open, keys.datakey)).status).toBe(403);
      expect((await call(server, "/oracleinvocation/decrypt", open, keys.decrypt)).body).toEqual({ data: "x" });
      // A keyring-only key is no key for the pseudonym routes.
      const pseudonym = await call(server, "/encrypt", { userUUID: README_USER, sensitiveData: "x" }, keys.whole);
      expect({ status: pseudonym.status, code: codeOf(pseudonym) }).toEqual({ status: 403, code: "forbidden" });
      expect((await call(server, "/encrypt", { userUUID: README_USER, sensitiveData: "x" }, keys.pseudonym)).status).toBe(200);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe("the oracle with CAAS_ORACLE_REQUIRE_KEY=true", () => {
  it("refuses a call without a key (401), a key without scope oracle (403), and serves a key with it", async () => {
    const { files, keys } = await setUp();
    const server = await startCaas({ pki, env: { ...serverEnv(files), CAAS_ORACLE_REQUIRE_KEY: "true" } });
    try {
      const sealed = await call(server, "/oracleinvocation/", { data: "with scope oracle" }, keys.whole);
      expect(sealed.status).toBe(200);
      const routes: Record<string, unknown> = {
        "/oracleinvocation": { data: "x" },
        "/oracleinvocation/": { data: "x" },
        "/oracleinvocation/batch": { items: [{ data: "x" }] },
        "/oracleinvocation/decrypt": { data: sealed.body.data, key: sealed.body.key, mac: sealed.body.mac, nonce: sealed.body.nonce },
      };
      for (const [path, body] of Object.entries(routes)) {
        for (const [who, key, status, code] of [
          ["no key", undefined, 401, "unauthorized"],
          ["a key that is no key", "caas-not-a-key-0123456789", 401, "unauthorized"],
          ["a pseudonym key", keys.pseudonym, 403, "forbidden"],
          ["a keyring key", keys.encrypt, 403, "forbidden"],
          ["a key with scope oracle", keys.whole, 200, undefined],
        ] as const) {
          const answer = await call(server, path, body, key);
          expect({ path, who, status: answer.status, code: codeOf(answer) }).toEqual({ path, who, status, code });
        }
        // Bad input from a caller without a key is still a 401: the key is looked at first.
        expect((await call(server, path, { wrong: true })).status).toBe(401);
      }
      expect((await call(server, "/oracleinvocation/decrypt", routes["/oracleinvocation/decrypt"], keys.whole)).body).toEqual({
        data: "with scope oracle",
      });
      // Envelope mode asks for both: the keyring scope and scope oracle.
      expect((await call(server, "/oracleinvocation/", { data: "x", wrap_with: "orders" }, keys.datakey)).status).toBe(403);
      const envelope = await call(server, "/oracleinvocation/", { data: "x", wrap_with: "orders" }, keys.whole);
      expect(envelope.status).toBe(200);
      expect(Object.keys(envelope.body).sort()).toEqual(["data", "mac", "nonce", "wrapped_key"]);
    } finally {
      await server.stop();
    }
  }, 30_000);

  it("serves the oracle to anyone without the setting, as the drop-in it replaces", async () => {
    const { files } = await setUp();
    const server = await startCaas({ pki, env: serverEnv(files) });
    try {
      expect((await call(server, "/oracleinvocation/", { data: "x" })).status).toBe(200);
      expect((await call(server, "/oracleinvocation/", { data: "x" }, "caas-not-a-key-0123456789")).status).toBe(200);
    } finally {
      await server.stop();
    }
  }, 30_000);
});

describe("envelope encryption", () => {
  it("seals with the oracle under a wrapped data key and opens it through /oracleinvocation/decrypt", async () => {
    const { files, keys } = await setUp();
    const server = await startCaas({ pki, env: serverEnv(files) });
    try {
      const plain = await call(server, "/oracleinvocation/", { data: "no key needed" });
      expect(Object.keys(plain.body).sort()).toEqual(["data", "key", "mac", "nonce"]);
      const sealed = await call(server, "/oracleinvocation/", { data: "wrapped", aad: "doc-1", wrap_with: "orders" }, keys.whole);
      expect(sealed.status).toBe(200);
      expect(Object.keys(sealed.body).sort()).toEqual(["data", "mac", "nonce", "wrapped_key"]);
      expect(sealed.body.wrapped_key as string).toStartWith("caas:v1:");
      const opened = await call(
        server,
        "/oracleinvocation/decrypt",
        {
          data: sealed.body.data,
          mac: sealed.body.mac,
          nonce: sealed.body.nonce,
          aad: "doc-1",
          wrapped_key: sealed.body.wrapped_key,
          wrap_with: "orders",
        },
        keys.whole,
      );
      expect(opened).toEqual({ status: 200, body: { data: "wrapped" } });
      // The data key itself: decrypting wrapped_key as bytes gives the AES key, which opens the box as the plain oracle would.
      const dataKey = await call(
        server,
        "/keyring/orders/decrypt",
        { ciphertext: sealed.body.wrapped_key, encoding: "base64" },
        keys.whole,
      );
      const direct = await call(server, "/oracleinvocation/decrypt", {
        data: sealed.body.data,
        mac: sealed.body.mac,
        nonce: sealed.body.nonce,
        aad: "doc-1",
        key: dataKey.body.data,
      });
      expect(direct.body).toEqual({ data: "wrapped" });
      // Under another keyring key the wrapped key does not open.
      const elsewhere = await call(
        server,
        "/oracleinvocation/decrypt",
        {
          data: sealed.body.data,
          mac: sealed.body.mac,
          nonce: sealed.body.nonce,
          aad: "doc-1",
          wrapped_key: sealed.body.wrapped_key,
          wrap_with: "invoices",
        },
        keys.other,
      );
      expect(codeOf(elsewhere)).toBe("authentication_failed");
    } finally {
      await server.stop();
    }
  }, 30_000);

  it("hands out a data key that another program encrypts with, and gives it back from wrapped_key", async () => {
    const { files, keys } = await setUp();
    const server = await startCaas({ pki, env: serverEnv(files) });
    try {
      const datakey = await call(server, "/keyring/orders/datakey", {}, keys.datakey);
      expect(Object.keys(datakey.body).sort()).toEqual(["key", "wrapped_key"]);
      expect(Buffer.from(datakey.body.key as string, "base64").length).toBe(32);
      const withoutPlaintext = await call(server, "/keyring/orders/datakey", { plaintext: false }, keys.datakey);
      expect(Object.keys(withoutPlaintext.body)).toEqual(["wrapped_key"]);
      // Node's own OpenSSL, in its own process, encrypts a large payload with the key.
      const encrypt = Bun.spawnSync(
        [
          "node",
          "-e",
          `const c=require("node:crypto");const k=Buffer.from(process.env.K,"base64");const iv=c.randomBytes(12);const x=c.createCipheriv("aes-256-gcm",k,iv);const ct=Buffer.concat([x.update(Buffer.alloc(1<<20,"ab")),x.final()]);process.stdout.write(JSON.stringify({iv:iv.toString("base64"),ct:ct.toString("base64"),tag:x.getAuthTag().toString("base64")}))`,
        ],
        { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", K: datakey.body.key as string }, stdout: "pipe", stderr: "pipe" },
      );
      expect(encrypt.exitCode).toBe(0);
      const box = encrypt.stdout.toString();
      // Later, holding only wrapped_key: caas gives the key back, and Node opens the payload with it.
      const recovered = await call(
        server,
        "/keyring/orders/decrypt",
        { ciphertext: datakey.body.wrapped_key, encoding: "base64" },
        keys.decrypt,
      );
      expect(recovered.body.data).toBe(datakey.body.key);
      const decrypt = Bun.spawnSync(
        [
          "node",
          "-e",
          `const c=require("node:crypto");const b=JSON.parse(require("node:fs").readFileSync(0,"utf8"));const d=c.createDecipheriv("aes-256-gcm",Buffer.from(process.env.K,"base64"),Buffer.from(b.iv,"base64"));d.setAuthTag(Buffer.from(b.tag,"base64"));const p=Buffer.concat([d.update(Buffer.from(b.ct,"base64")),d.final()]);process.stdout.write(String(p.length)+":"+p.subarray(0,4).toString())`,
        ],
        {
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin", K: recovered.body.data as string },
          stdin: Buffer.from(box),
          stdout: "pipe",
          stderr: "pipe",
        },
      );
      expect(decrypt.stdout.toString()).toBe(`${1 << 20}:abab`);
    } finally {
      await server.stop();
    }
  }, 30_000);
});

describe("the files", () => {
  it("refuses to start with a keyring under another root key: exit 78, one line", async () => {
    const { dir, files } = await setUp();
    const other = join(dir, "other-root-key");
    expect((await caas(["root-key", "init", other], dir)).code).toBe(0);
    for (const check of [[], ["--check"]]) {
      const run = await caas(["serve", ...check, "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey], dir, {
        ...serverEnv(files),
        CAAS_ROOT_KEY_FILE: other,
        CAAS_PORT: "0",
        CAAS_OPS_LISTEN: "127.0.0.1:0",
        CAAS_STATE_DIR: join(dir, "state"),
      });
      expect(run.code).toBe(78);
      const lines = run.stderr.trimEnd().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^caas serve: CAAS_KEYRING_FILE: keyring file .* does not open under the root key in .*other-root-key/);
      expect(run.stderr).not.toMatch(/^\s+at /m);
    }
  }, 30_000);

  it("lets two instances sharing the files decrypt each other's ciphertexts", async () => {
    const { files, keys } = await setUp();
    const [a, b] = await Promise.all([startCaas({ pki, env: serverEnv(files) }), startCaas({ pki, env: serverEnv(files) })]);
    try {
      expect(a.port).not.toBe(b.port);
      const fromA = await call(a, "/keyring/orders/encrypt", { data: "from a", aad: "x" }, keys.whole);
      const fromB = await call(b, "/keyring/orders/encrypt", { data: "from b" }, keys.whole);
      expect((await call(b, "/keyring/orders/decrypt", { ciphertext: fromA.body.ciphertext, aad: "x" }, keys.whole)).body).toEqual({
        data: "from a",
      });
      expect((await call(a, "/keyring/orders/decrypt", { ciphertext: fromB.body.ciphertext }, keys.whole)).body).toEqual({
        data: "from b",
      });
      const rewrappedOnB = await call(b, "/keyring/orders/rewrap", { ciphertext: fromA.body.ciphertext, aad: "x" }, keys.whole);
      expect((await call(a, "/keyring/orders/decrypt", { ciphertext: rewrappedOnB.body.ciphertext, aad: "x" }, keys.whole)).body).toEqual({
        data: "from a",
      });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 30_000);

  it("loses nothing to commands run at once: 10 rotations, 10 creations", async () => {
    const { files, keyring } = await setUp();
    const runs = await Promise.all([
      ...Array.from({ length: 10 }, () => keyring("rotate", "orders")),
      ...Array.from({ length: 10 }, (_, i) => keyring("create", `parallel-${i}`)),
    ]);
    for (const run of runs) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
    const listed = JSON.parse((await keyring("list", "--json")).stdout) as { keys: { name: string; versions: { version: number }[] }[] };
    expect(listed.keys.find((key) => key.name === "orders")?.versions.map((entry) => entry.version)).toEqual(
      Array.from({ length: 11 }, (_, i) => i + 1),
    );
    expect(listed.keys.map((key) => key.name).sort()).toEqual(
      ["invoices", "orders", ...Array.from({ length: 10 }, (_, i) => `parallel-${i}`)].sort(),
    );
    expect(readdirSync(join(files.keyring, "..")).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  }, 60_000);

  it("refuses a bad scope at add time with usage, and lists every key's scopes", async () => {
    const { dir, files } = await setUp();
    for (const scope of ["keyring:", "keyring:orders:delete", "keyring:a:b:c", "admin", "keyring:bad name"]) {
      const run = await caas(["keys", "add", "bad", "--scope", scope, "--file", files.apiKeys], dir);
      expect({ scope, code: run.code }).toEqual({ scope, code: 2 });
    }
    const listed = (await caas(["keys", "list", "--file", files.apiKeys], dir)).stdout;
    expect(listed).toMatch(/^whole\tstandard\t\S+\tkeyring:orders,oracle$/m);
    expect(listed).toMatch(/^pseudonym\tstandard\t\S+\tpseudonym$/m);
  }, 30_000);
});

describe("API keys and the keyring's files from the CLI", () => {
  it("gives a key brought in with `keys import --scope` exactly those scopes", async () => {
    const { dir, files } = await setUp();
    const key = "partner-held-key-0123456789abcdef";
    const keyFile = join(dir, "partner.key");
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    const imported = await caas(
      ["keys", "import", "partner", "--key-file", keyFile, "--scope", "keyring:orders:encrypt", "--file", files.apiKeys],
      dir,
    );
    expect({ code: imported.code, stderr: imported.stderr }).toEqual({ code: 0, stderr: "" });
    expect(imported.stdout).not.toContain(key);
    const server = await startCaas({ env: serverEnv(files), pki });
    try {
      expect((await call(server, "/keyring/orders/encrypt", { data: "x" }, key)).status).toBe(200);
      for (const [path, body] of [
        ["/keyring/orders/decrypt", { ciphertext: "caas:v1:AAAA" }],
        ["/keyring/orders/datakey", {}],
        ["/keyring/invoices/encrypt", { data: "x" }],
        // Scopes given replace the default: no pseudonym either.
        ["/encrypt", { userUUID: README_USER, sensitiveData: "x" }],
      ] as const) {
        const answer = await call(server, path, body, key);
        expect({ path, status: answer.status, code: codeOf(answer) }).toEqual({ path, status: 403, code: "forbidden" });
      }
    } finally {
      await server.stop();
    }
  }, 30_000);

  it("gives a key stored before scopes existed (no `scopes` field) pseudonym alone", async () => {
    const { files } = await setUp();
    const key = "legacy-key-from-before-scopes-01";
    const legacy = {
      keys: [
        {
          name: "legacy",
          profile: "standard",
          hash: new Bun.CryptoHasher("sha256").update(key).digest("hex"),
          created: "2024-01-01T00:00:00.000Z",
        },
      ],
    };
    writeFileSync(files.apiKeys, JSON.stringify(legacy), { mode: 0o600 });
    chmodSync(files.apiKeys, 0o600);
    const server = await startCaas({ env: serverEnv(files), pki });
    try {
      const pseudonym = await server.post("/encrypt", { userUUID: README_USER, sensitiveData: "x" }, { "x-api-key": key });
      expect(pseudonym.status).toBe(200);
      for (const operation of ["encrypt", "decrypt", "datakey"]) {
        const answer = await call(server, `/keyring/orders/${operation}`, operation === "encrypt" ? { data: "x" } : {}, key);
        expect({ operation, status: answer.status, code: codeOf(answer) }).toEqual({ operation, status: 403, code: "forbidden" });
      }
    } finally {
      await server.stop();
    }
    expect(cli(["keys", "list", "--file", files.apiKeys]).stdout).toMatch(/^legacy\tstandard\t\S+\tpseudonym$/m);
  }, 30_000);

  it("writes a root key of 32 bytes with mode 0600, whatever the umask, and refuses to overwrite it", () => {
    const dir = privateDir();
    dirs.push(dir);
    const rootKey = join(dir, "root-key");
    // umask 000 would leave a file made without an explicit mode readable by everyone.
    const made = cli(["-c", 'umask 000 && exec "$0" root-key init "$1"', BINARY, rootKey], { binary: "/bin/sh" });
    expect({ code: made.code, stderr: made.stderr }).toEqual({ code: 0, stderr: "" });
    expect(statSync(rootKey).mode & 0o777).toBe(0o600);
    expect(readFileSync(rootKey).length).toBe(32);
    const before = readFileSync(rootKey);
    expect(cli(["root-key", "init", rootKey]).code).toBe(78);
    expect(readFileSync(rootKey).equals(before)).toBe(true);
  });

  it("finds the keyring and root key through CAAS_KEYRING_FILE and CAAS_ROOT_KEY_FILE when no flag names them", async () => {
    const { dir, files, keyring } = await setUp();
    const env = { CAAS_KEYRING_FILE: files.keyring, CAAS_ROOT_KEY_FILE: files.rootKey };
    for (const args of [
      ["create", "payments"],
      ["rotate", "payments"],
    ]) {
      const run = cli(["keyring", ...args], { env, cwd: dir });
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: "" });
    }
    // The flags read the same file the variables wrote.
    const listed = JSON.parse((await keyring("list", "--json")).stdout) as { keys: { name: string; versions: { version: number }[] }[] };
    expect(listed.keys.find((key) => key.name === "payments")?.versions.map((entry) => entry.version)).toEqual([1, 2]);
    expect(cli(["keyring", "list"], { env, cwd: dir }).stdout).toMatch(/^payments\t/m);
    // Neither flag nor variable: a usage error naming the variable.
    const neither = cli(["keyring", "list"], { cwd: dir });
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain("CAAS_KEYRING_FILE");
    const noRootKey = cli(["keyring", "list"], { env: { CAAS_KEYRING_FILE: files.keyring }, cwd: dir });
    expect(noRootKey.code).toBe(2);
    expect(noRootKey.stderr).toContain("CAAS_ROOT_KEY_FILE");
  }, 30_000);
});

describe("development mode", () => {
  it("makes a root key and a keyring with key 'dev' that the development key may use; --check creates nothing", async () => {
    const dir = privateDir();
    dirs.push(dir);
    const state = join(dir, "state");
    const check = await caas(["serve", "--check"], dir, { CAAS_STATE_DIR: state, CAAS_PORT: "0" });
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`would create ${join(state, "dev-root-key")}`);
    expect(check.stdout).toContain(`would create ${join(state, "dev-keyring.json")}`);
    expect(existsSync(state)).toBe(false);
    const server = await startCaas({ cwd: dir, env: { CAAS_TLS_CERT: "", CAAS_TLS_KEY: "", CAAS_STATE_DIR: state } });
    try {
      const trust = readFileSync(join(state, "dev-certificate.pem"), "utf8");
      const key = readFileSync(join(state, "dev-api-key"), "utf8").trim();
      const post = async (path: string, body: unknown) => {
        const answer = await fetch(`${server.url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-api-key": key },
          body: JSON.stringify(body),
          tls: { ca: trust },
        } as RequestInit);
        return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
      };
      const sealed = await post("/keyring/dev/encrypt", { data: "first run" });
      expect(sealed.status).toBe(200);
      expect((await post("/keyring/dev/decrypt", { ciphertext: sealed.body.ciphertext })).body).toEqual({ data: "first run" });
      expect((await post("/keyring/dev/datakey", {})).status).toBe(200);
      expect((await post("/oracleinvocation/", { data: "x", wrap_with: "dev" })).status).toBe(200);
      expect((await post("/encrypt", { userUUID: README_USER, sensitiveData: "x" })).status).toBe(200);
      expect((readdirSync(state).filter((name) => name.startsWith("dev-")) as string[]).sort()).toEqual([
        "dev-api-key",
        "dev-certificate.pem",
        "dev-keyring.json",
        "dev-root-key",
      ]);
    } finally {
      await server.stop();
    }
  }, 30_000);

  it("makes none of it with a certificate configured", async () => {
    const dir = privateDir();
    dirs.push(dir);
    const server = await startCaas({ pki, cwd: dir, env: { CAAS_STATE_DIR: join(dir, "state") } });
    try {
      expect(existsSync(join(dir, "state", "dev-root-key"))).toBe(false);
      const answer = await call(server, "/keyring/dev/encrypt", { data: "x" });
      expect(answer.status).toBe(401);
    } finally {
      await server.stop();
    }
  }, 30_000);
});
