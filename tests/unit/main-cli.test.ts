/**
 * The binary's entry, in-process: `caas help CMD` answers as `caas CMD --help` does, and a
 * mistyped command or option is quoted back with the valid one most likely meant, in one line
 * on stderr with exit 2.
 */
import { describe, expect, it } from "bun:test";
import { main } from "../../src/main.ts";
import { type CommandRun, runCommand } from "./helpers.ts";

function caas(args: string[]): Promise<CommandRun> {
  return runCommand(main, args);
}

describe("caas help CMD", () => {
  for (const command of [
    ["serve"],
    ["keys"],
    ["keys", "list"],
    ["secret"],
    ["secret", "retire"],
    ["root-key"],
    ["keyring"],
    ["keyring", "trim"],
    ["decrypt"],
    ["version"],
  ]) {
    it(`answers 'caas help ${command.join(" ")}' with the page 'caas ${command.join(" ")} --help' prints`, async () => {
      const asked = await caas(["help", ...command]);
      const flagged = await caas([...command, "--help"]);
      expect(asked).toEqual({ code: 0, out: flagged.out, err: [] });
      expect(asked.out.join("\n")).toStartWith(`usage: caas ${command[0]}`);
    });
  }

  it("answers 'caas help' alone with the overview, exit 0", async () => {
    const run = await caas(["help"]);
    expect(run.code).toBe(0);
    expect(run.out.join("\n")).toStartWith("usage: caas <command>");
  });

  it("answers 'caas help nonsense' as the unknown command it is: exit 2, one line", async () => {
    expect(await caas(["help", "nonsense"])).toEqual({ code: 2, out: [], err: ["caas: unknown command 'nonsense' (try 'caas --help')"] });
    expect(await caas(["help", "kyes"])).toEqual({ code: 2, out: [], err: ["caas: unknown command 'kyes'; did you mean 'keys'?"] });
  });
});

describe("a mistyped command or option", () => {
  const cases: [string[], string][] = [
    [["kyes"], "caas: unknown command 'kyes'; did you mean 'keys'?"],
    [["serv"], "caas: unknown command 'serv'; did you mean 'serve'?"],
    [["hlep"], "caas: unknown command 'hlep'; did you mean 'help'?"],
    [["keys", "lsit"], "caas keys: unknown command 'lsit'; did you mean 'list'?"],
    [["keyring", "rotte", "x"], "caas keyring: unknown command 'rotte'; did you mean 'rotate'?"],
    [["root-key", "int"], "caas root-key: unknown command 'int'; did you mean 'init'?"],
    [["serve", "--chek"], "caas serve: unknown option '--chek'; did you mean '--check'?"],
    [["serve", "--prot", "8443"], "caas serve: unknown option '--prot'; did you mean '--port'?"],
    [["serve", "--frobnicate"], "caas serve: unknown option '--frobnicate'"],
    [["decrypt", "--nocne", "x"], "caas decrypt: unknown option '--nocne'; did you mean '--nonce'?"],
    [["keyring", "list", "--jsn"], "caas keyring list: unknown option '--jsn'; did you mean '--json'? (see caas keyring list --help)"],
    [["frobnicate"], "caas: unknown command 'frobnicate' (try 'caas --help')"],
  ];
  for (const [args, line] of cases) {
    it(`'caas ${args.join(" ")}': ${line.includes("did you mean") ? "the one meant" : "no guess"}, exit 2`, async () => {
      expect(await caas(args)).toEqual({ code: 2, out: [], err: [line] });
    });
  }
});

describe("a value typed where a command or option goes", () => {
  // TEST FIXTURE: shaped like a key or a base64 data key, which is what lands in these places by mistake.
  const VALUE = "caas_Zm9yLXRlc3RzLW9ubHktbm90LWEta2V5LTAx";
  const DATA_KEY = "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=";
  for (const args of [
    [VALUE],
    ["keys", VALUE],
    ["secret", VALUE],
    ["keyring", VALUE],
    ["root-key", VALUE],
    ["decrypt", "--key=", DATA_KEY, "--nonce", "AAAAAAAAAAAAAAAA", "--mac", "AAAAAAAAAAAAAAAAAAAAAA==", "--data", "AA=="],
    ["serve", DATA_KEY],
    ["version", VALUE],
    ["keys", "list", VALUE, "--file", "/nonexistent/keys.json"],
  ]) {
    it(`is never repeated: caas ${args.map((arg) => (arg === VALUE ? "VALUE" : arg === DATA_KEY ? "DATA_KEY" : arg)).join(" ")}`, async () => {
      const run = await caas(args);
      expect(run.code).toBe(2);
      expect(run.err).toHaveLength(1);
      expect(run.err.join("\n")).not.toContain(VALUE.slice(5, 25));
      expect(run.err.join("\n")).not.toContain(DATA_KEY.slice(0, 20));
    });
  }

  it("still quotes a word that looks like a command, with the one meant", async () => {
    expect((await caas(["kyes"])).err).toEqual(["caas: unknown command 'kyes'; did you mean 'keys'?"]);
    expect((await caas(["keys", "lsit"])).err).toEqual(["caas keys: unknown command 'lsit'; did you mean 'list'?"]);
  });
});
