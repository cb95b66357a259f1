/**
 * The promises both credential files keep, whichever store: changes run at once are all kept,
 * no command writes a file the server would refuse, a file or directory another user could
 * rewrite is refused, and the CLI never ends in a stack trace.
 */
import { describe, expect, it } from "bun:test";
import { chmod, chown, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ApiKeyStore, hashApiKey } from "../../src/credentials/api-keys.ts";
import { KEYS_FILE_ERRORS, KEYS_FILE_LIMITS } from "../../src/credentials/keys-file.ts";
import { KEYRING_FILE_ERRORS } from "../../src/credentials/keyring-errors.ts";
import { KEYRING_FILE_RULES } from "../../src/credentials/keyring-file.ts";
import { ROOT_KEY_ERRORS } from "../../src/credentials/root-key.ts";
import { STATE_DIRECTORY_ERRORS, STATE_FILE_MAX_BYTES } from "../../src/credentials/state-directory.ts";
import { toBase64, toHex } from "../../src/crypto/encoding.ts";
import type { CliIo } from "../../src/cli/io.ts";
import { OutputFailed } from "../../src/errors.ts";
import { runKeysCommand } from "../../src/cli/keys.ts";
import { runSecretCommand } from "../../src/cli/secret.ts";
import { withPrivateFileLock } from "../../src/files/private-file.ts";
import { PrivateFileFailed, sizeInWords } from "../../src/files/store-errors.ts";
import { main } from "../../src/main.ts";
import { loadSecretRing, MAX_SECRET_VERSION, MAX_SECRET_VERSIONS, SECRET_FILE_ERRORS } from "../../src/credentials/secret-ring.ts";
import { scratchDirectories } from "./scratch.ts";

interface Run {
  code: number;
  out: string[];
  err: string[];
}

function capture(): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (line) => out.push(line), err: (line) => err.push(line), env: {} }, out, err };
}

async function keys(args: string[]): Promise<Run> {
  const { io, out, err } = capture();
  return { code: await runKeysCommand(args, io), out, err };
}

async function secret(args: string[]): Promise<Run> {
  const { io, out, err } = capture();
  return { code: await runSecretCommand(args, io), out, err };
}

async function storedNames(file: string): Promise<string[]> {
  return (JSON.parse(await readFile(file, "utf8")) as { keys: { name: string }[] }).keys.map((key) => key.name).sort();
}

const scratch = scratchDirectories("caas-credential-files-");
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("changes run at once", () => {
  it("keeps all 20 of 20 `keys add` started together", async () => {
    const file = join(await scratch(), "keys.json");
    const runs = await Promise.all(range(20).map((i) => keys(["add", `k${i}`, "--file", file])));
    expect(runs.map((run) => run.code)).toEqual(range(20).map(() => 0));
    expect(await storedNames(file)).toEqual(
      range(20)
        .map((i) => `k${i}`)
        .sort(),
    );
    const store = await ApiKeyStore.load(file);
    for (const [i, run] of runs.entries()) expect(store.lookup(run.out.at(-1))?.name).toBe(`k${i}`);
  });

  it("keeps a removal and an add run beside it, every time (10 rounds)", async () => {
    const file = join(await scratch(), "keys.json");
    for (const round of range(10)) {
      await keys(["add", `compromised-${round}`, "--file", file]);
      const [removed, added] = await Promise.all([
        keys(["remove", `compromised-${round}`, "--file", file]),
        keys(["add", `fresh-${round}`, "--file", file]),
      ]);
      expect([removed.code, added.code]).toEqual([0, 0]);
      expect(await storedNames(file)).toEqual(
        range(round + 1)
          .map((i) => `fresh-${i}`)
          .sort(),
      );
    }
  });

  it("gives each of 10 rotations started together its own version", async () => {
    const file = join(await scratch(), "secret.json");
    expect((await secret(["init", file])).code).toBe(0);
    const runs = await Promise.all(range(10).map(() => secret(["rotate", file])));
    expect(runs.map((run) => run.code)).toEqual(range(10).map(() => 0));
    expect((await loadSecretRing(file)).versions.map((v) => v.version)).toEqual(range(11).map((i) => i + 1));
  });

  it("makes a second holder wait, then fail as busy; the lock is free again once the first is done", async () => {
    const file = join(await scratch(), "keys.json");
    let release = () => {};
    const held = withPrivateFileLock(file, () => new Promise<void>((resolve) => (release = resolve)));
    await Bun.sleep(20);
    const second = await withPrivateFileLock(file, async () => "got it", 150).catch((error: unknown) => error);
    expect(second).toBeInstanceOf(PrivateFileFailed);
    expect((second as PrivateFileFailed).problem.kind).toBe("busy");
    release();
    await held;
    expect(await withPrivateFileLock(file, async () => "got it", 150)).toBe("got it");
  });
});

describe("nothing is written that the server refuses", () => {
  /** A keys file whose next entry would take it past the size the reader accepts (keys with several scopes, so the size comes before the count). */
  function keysFileAtTheLimit(): string {
    const entry = (i: number) => ({
      name: `k${String(i).padStart(7, "0")}`,
      profile: "standard",
      hash: toHex(hashApiKey(`key ${i}`)),
      created: "2025-01-01T00:00:00.000Z",
      scopes: range(8).map((scope) => `keyring:${"n".repeat(60)}${scope}:datakey-wrapped`),
    });
    const text = (n: number) => `${JSON.stringify({ keys: range(n).map(entry) }, null, 2)}\n`;
    const perEntry = text(2).length - text(1).length;
    const count = 1 + Math.floor((KEYS_FILE_LIMITS.bytes - text(1).length) / perEntry);
    expect(count).toBeLessThan(KEYS_FILE_LIMITS.keys);
    expect(text(count).length).toBeLessThanOrEqual(KEYS_FILE_LIMITS.bytes);
    expect(text(count + 1).length).toBeGreaterThan(KEYS_FILE_LIMITS.bytes);
    return text(count);
  }

  /** A secret file at its version limit, of versions as large as caas writes them: the count is reached before the size. */
  function secretFileAtTheLimit(): string {
    const version = (i: number) => ({
      version: 1_000_000 + i,
      created: "2025-01-01T00:00:00.000Z",
      retired: "2025-01-01T00:00:00.000Z",
      activation: "2025-01-01T00:00:00.000Z",
      secret: toBase64(new Uint8Array(32).fill(i % 256)),
    });
    const text = (n: number) =>
      `${JSON.stringify({ versions: range(n).map((i) => (i === n - 1 ? { ...version(i), retired: undefined } : version(i))) }, null, 2)}\n`;
    const atLimit = text(MAX_SECRET_VERSIONS);
    expect(text(MAX_SECRET_VERSIONS + 1).length).toBeLessThanOrEqual(4 * 1024 * 1024);
    return atLimit;
  }

  const cases: { name: string; file: string; text: () => string; command: (path: string) => Promise<Run> }[] = [
    {
      name: "keys add to a keys file at its size limit",
      file: "keys.json",
      text: keysFileAtTheLimit,
      command: (path) => keys(["add", "x000000", "--file", path]),
    },
    {
      name: "keys import to a keys file at its size limit",
      file: "keys.json",
      text: keysFileAtTheLimit,
      command: (path) => keys(["import", "x000000", "--key", "an-imported-key-of-some-length", "--file", path]),
    },
    {
      name: `secret rotate of a file at ${MAX_SECRET_VERSIONS} versions`,
      file: "secret.json",
      text: secretFileAtTheLimit,
      command: (path) => secret(["rotate", path]),
    },
    {
      name: `secret rotate of a file at version ${MAX_SECRET_VERSION}`,
      file: "secret.json",
      text: () =>
        JSON.stringify({
          versions: [{ version: MAX_SECRET_VERSION, created: "2025-01-01T00:00:00.000Z", secret: toBase64(new Uint8Array(32)) }],
        }),
      command: (path) => secret(["rotate", path]),
    },
  ];
  for (const { name, file, text, command } of cases) {
    it(`refuses ${name} with exit 78 and one line, leaving a file that still loads`, async () => {
      const path = join(await scratch(), file);
      const before = text();
      await writeFile(path, before, { mode: 0o600 });
      const load = file === "keys.json" ? () => ApiKeyStore.load(path) : () => loadSecretRing(path);
      await load();
      const run = await command(path);
      expect(run.code).toBe(78);
      expect(run.err).toHaveLength(1);
      expect(run.err[0]).toContain("refusing to write");
      expect(await readFile(path, "utf8")).toBe(before);
      await load();
    });
  }
});

describe("files someone else could rewrite", () => {
  const asRoot = process.getuid?.() === 0;
  const itAsRoot = asRoot ? it : it.skip;
  if (!asRoot) console.warn("credential-files: not root, so files owned by another user cannot be made; those tests are skipped");

  itAsRoot("refuses a keys file or secret file owned by another user (uid 65534), naming the owner and a fix", async () => {
    const directory = await scratch();
    const keysFile = join(directory, "keys.json");
    const secretFile = join(directory, "secret.json");
    await keys(["add", "a", "--file", keysFile]);
    await secret(["init", secretFile]);
    await chown(keysFile, 65534, 65534);
    await chown(secretFile, 65534, 65534);
    const keysError = await ApiKeyStore.load(keysFile).catch((error: unknown) => error);
    expect(keysError).toMatchObject({ code: "keys_file_insecure" });
    expect((keysError as Error).message).toContain("owned by uid 65534");
    expect((keysError as Error).message).toContain(`chown 0 ${keysFile}`);
    expect(await loadSecretRing(secretFile).catch((error: unknown) => error)).toMatchObject({ code: "secret_file_insecure" });
  });

  itAsRoot("refuses a file reached through a link whose directory another user owns", async () => {
    const directory = await scratch();
    const theirs = join(directory, "theirs");
    await mkdir(theirs, { mode: 0o755 });
    const keysFile = join(directory, "keys.json");
    await keys(["add", "a", "--file", keysFile]);
    await symlink(keysFile, join(theirs, "keys.json"));
    await chown(theirs, 65534, 65534);
    // The file is ours, but whoever owns the directory holding the link decides what it names.
    expect(await ApiKeyStore.load(join(theirs, "keys.json")).catch((error: unknown) => error)).toMatchObject({
      code: "keys_file_insecure",
    });
    expect((await keys(["add", "b", "--file", join(theirs, "keys.json")])).code).toBe(78);
  });

  it("refuses a keys file in a directory group or others can write, in the CLI and on load", async () => {
    const directory = join(await scratch(), "open");
    await mkdir(directory);
    const keysFile = join(directory, "keys.json");
    await keys(["add", "a", "--file", keysFile]);
    await chmod(directory, 0o777);
    const added = await keys(["add", "b", "--file", keysFile]);
    expect(added.code).toBe(78);
    expect(added.err[0]).toContain(`chmod go-w ${directory}`);
    expect(await ApiKeyStore.load(keysFile).catch((error: unknown) => error)).toMatchObject({ code: "keys_file_insecure" });
  });
});

describe("the CLI's last resort", () => {
  it("turns an unexpected error into one line without its message and exit 70", async () => {
    const { io, err } = capture();
    const file = join(await scratch(), "keys.json");
    await keys(["add", "a", "--file", file]);
    const broken: CliIo = {
      ...io,
      out: () => {
        throw new TypeError("a message that might quote caas_secretvalue");
      },
    };
    expect(await main(["keys", "list", "--file", file], broken)).toBe(70);
    expect(err).toHaveLength(1);
    expect(err[0]).toContain("unexpected error (TypeError)");
    expect(err[0]).not.toContain("caas_secretvalue");
  });

  it("turns a closed stdout into one line and exit 74", async () => {
    const { io, err } = capture();
    const file = join(await scratch(), "keys.json");
    await keys(["add", "a", "--file", file]);
    const closed: CliIo = {
      ...io,
      out: () => {
        throw new OutputFailed("EPIPE");
      },
    };
    expect(await main(["keys", "list", "--file", file], closed)).toBe(74);
    expect(err).toHaveLength(1);
  });

  it("takes a key that could not be shown out of the file again, exit 74", async () => {
    const { io, err } = capture();
    const file = join(await scratch(), "keys.json");
    await keys(["add", "seen", "--file", file]);
    const before = await readFile(file, "utf8");
    const closed: CliIo = {
      ...io,
      out: () => {
        throw new OutputFailed("EPIPE");
      },
    };
    expect(await main(["keys", "add", "unseen", "--file", file], closed)).toBe(74);
    expect(err).toHaveLength(1);
    expect(await readFile(file, "utf8")).toBe(before);
  });
});

describe("a credential file too large", () => {
  it("is refused naming the limit its read enforces, in words", () => {
    const said = (errors: { of(path: string, problem: { kind: "too_large" }): Error }) => errors.of("/f", { kind: "too_large" }).message;
    expect({
      secret: said(SECRET_FILE_ERRORS),
      keys: said(KEYS_FILE_ERRORS),
      keyring: said(KEYRING_FILE_ERRORS),
      rootKey: said(ROOT_KEY_ERRORS),
      stateDirectory: said(STATE_DIRECTORY_ERRORS),
    }).toEqual({
      secret: expect.stringContaining(`larger than ${sizeInWords(4 * 1024 * 1024)}`),
      keys: expect.stringContaining(`larger than ${sizeInWords(KEYS_FILE_LIMITS.bytes)}`),
      keyring: expect.stringContaining(`larger than ${sizeInWords(KEYRING_FILE_RULES.maxBytes)}`),
      rootKey: expect.stringContaining("larger than 1 KiB"),
      stateDirectory: expect.stringContaining(`larger than ${sizeInWords(STATE_FILE_MAX_BYTES)}`),
    });
  });

  it("says whole MiB and KiB as such, any other size in bytes", () => {
    expect([1024, 4 * 1024 * 1024, 32 * 1024 * 1024, 3 * 1024 * 1024 + 1024, 1536, 1000].map(sizeInWords)).toEqual([
      "1 KiB",
      "4 MiB",
      "32 MiB",
      "3073 KiB",
      "1536 bytes",
      "1000 bytes",
    ]);
  });
});
