/**
 * One table gives every error code its exit status (src/cli/exit-codes.ts), and those statuses
 * are the ones docs/configuration.md documents: every code declared in src/ has a row, every row
 * is a documented status, and commands run in-process end with the status the docs give.
 */
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { EXIT_STATUS_OF, exitStatusOf } from "../../src/cli/exit-codes.ts";
import type { CliIo } from "../../src/cli/io.ts";
import { InvalidArgument, OutputFailed } from "../../src/errors.ts";
import { PrivateFileFailed, STORE_FILE_CODES, StoreFileError, type StoreFileAt } from "../../src/files/store-errors.ts";
import { main } from "../../src/main.ts";
import { scratchDirectories } from "./scratch.ts";

const ROOT = resolve(import.meta.dir, "../..");
const scratch = scratchDirectories("caas-exit-");

/** Every code an error in src/ can have: each `readonly code = "..."` a class declares, and every store file code. */
function declaredCodes(): string[] {
  const codes = new Set<string>(Object.values(STORE_FILE_CODES).flatMap((byProblem) => Object.values(byProblem)));
  const files = readdirSync(join(ROOT, "src"), { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".ts"));
  for (const file of files) {
    for (const match of readFileSync(join(ROOT, "src", file), "utf8").matchAll(/readonly code(?::\s*string)?\s*=\s*"([a-z0-9_]+)"/g))
      codes.add(match[1] ?? "");
  }
  return [...codes].sort();
}

/** The exit statuses docs/configuration.md's "Commands and exit codes" table lists, by number. */
function documentedStatuses(): Map<number, string> {
  const docs = readFileSync(join(ROOT, "docs/configuration.md"), "utf8");
  const section = docs.slice(docs.indexOf("## Commands and exit codes"));
  return new Map([...section.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((row) => [Number(row[1]), row[2] ?? ""]));
}

function capture(out: (line: string) => void = () => undefined): { io: CliIo; err: string[] } {
  const err: string[] = [];
  return { io: { out, err: (line) => err.push(line), env: {} }, err };
}

describe("the exit status table", () => {
  it("finds the codes it checks (the scan of src/ works)", () => {
    expect(declaredCodes()).toContain("keys_file_missing");
    expect(declaredCodes()).toContain("usage");
    expect(documentedStatuses().get(78)).toStartWith("configuration or file error");
  });

  it("gives every code an error in src/ can have a row, and nothing else", () => {
    const usageCodes = ["invalid_key_argument", "invalid_keyring_argument"];
    expect(Object.keys(EXIT_STATUS_OF).sort()).toEqual([...new Set([...declaredCodes(), ...usageCodes])].sort());
  });

  it("gives every row a status the docs list", () => {
    const documented = documentedStatuses();
    expect(Object.entries(EXIT_STATUS_OF).filter(([, status]) => !documented.has(status))).toEqual([]);
  });

  /** The status each kind of problem with a store's file ends a command with, whatever the store. */
  const BY_PROBLEM: Readonly<Record<string, number>> = {
    missing: 78,
    exists: 78,
    invalid: 78,
    insecure: 78,
    unreadable: 78,
    unwritable: 78,
    refused: 78,
    other_root_key: 78,
    name_taken: 78,
    key_stored: 78,
    busy: 75,
    not_shown: 74,
    no_such_entry: 1,
    entry_active: 1,
  };
  const storeProblems = Object.entries(STORE_FILE_CODES).flatMap(([store, byProblem]) =>
    Object.entries(byProblem).map(([problem, code]) => ({ at: { store, problem, path: "/f" } as StoreFileAt, code })),
  );
  it.each(storeProblems)("ends a command failing with $code ($at.problem) with its problem's status", ({ at, code }) => {
    const error = new StoreFileError(at, "m");
    expect(error.code).toBe(code);
    expect(exitStatusOf(error)).toBe(BY_PROBLEM[at.problem] ?? -1);
  });

  it.each([
    ["usage", new InvalidArgument("api_keys", "m"), 2],
    ["usage", new InvalidArgument("keyring", "m"), 2],
    ["output", new OutputFailed("EPIPE"), 74],
    ["the file layer's own failure, which its store should have worded", new PrivateFileFailed({ kind: "busy" }), 70],
  ] as const)("ends a command failing with %s with its status", (_kind, error, status) => {
    expect(exitStatusOf(error)).toBe(status);
  });

  it("gives anything caas did not expect 70", () => {
    expect(exitStatusOf(new TypeError("boom"))).toBe(70);
    expect(exitStatusOf("a string")).toBe(70);
  });
});

describe("commands end with the documented status", () => {
  const ok = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  const cases: readonly { readonly name: string; readonly status: number; readonly argv: (dir: string) => Promise<string[]> }[] = [
    { name: "no command at all: usage", status: 2, argv: async () => [] },
    { name: "an unknown command", status: 2, argv: async () => ["frobnicate"] },
    { name: "keys add without a NAME", status: 2, argv: async (dir) => ["keys", "add", "--file", join(dir, "k.json")] },
    {
      name: "keys add with a name the file cannot hold",
      status: 2,
      argv: async (dir) => ["keys", "add", "no spaces", "--file", join(dir, "k.json")],
    },
    { name: "an unknown option", status: 2, argv: async () => ["secret", "init", "--force"] },
    { name: "serve with a misspelt flag", status: 2, argv: async () => ["serve", "--prot", "1"] },
    { name: "serve with a setting out of range", status: 78, argv: async () => ["serve", "--port", "abc"] },
    { name: "keys list of a missing file", status: 78, argv: async (dir) => ["keys", "list", "--file", join(dir, "missing.json")] },
    {
      name: "secret init over an existing file",
      status: 78,
      argv: async (dir) => {
        await writeFile(join(dir, "secret"), "x", { mode: 0o600 });
        return ["secret", "init", join(dir, "secret")];
      },
    },
    {
      name: "keys remove of a name the file does not hold",
      status: 1,
      argv: async (dir) => {
        const file = join(dir, "k.json");
        await main(["keys", "add", "present", "--file", file], capture().io);
        return ["keys", "remove", "absent", "--file", file];
      },
    },
    {
      name: "decrypt of values that do not authenticate",
      status: 1,
      argv: async () => ["decrypt", "--key", ok, "--nonce", "AAAAAAAAAAAAAAAA", "--mac", "AAAAAAAAAAAAAAAAAAAAAA==", "--data", "AAAA"],
    },
  ];

  for (const { name, status, argv } of cases) {
    it(`${name}: ${status}`, async () => {
      const args = await argv(await scratch());
      const { io, err } = capture();
      expect(await main(args, io)).toBe(status);
      // Every failure is said in one line on stderr (usage alone may print the help instead).
      if (status !== 2 || args.length > 0) expect(err).toHaveLength(1);
    });
  }

  it("standard output closed: 74", async () => {
    const file = join(await scratch(), "k.json");
    await main(["keys", "add", "a", "--file", file], capture().io);
    const { io, err } = capture(() => {
      throw new OutputFailed("EPIPE");
    });
    expect(await main(["keys", "list", "--file", file], io)).toBe(74);
    expect(err).toEqual([`caas keys list: standard output closed before the answer was written (EPIPE)`]);
  });
});
