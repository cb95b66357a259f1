/** The binary's entry: parse argv, dispatch a command, map errors to exit codes. */
import { writeSync } from "node:fs";
import { versionLine } from "./build-info.ts";
import { type CliIo, EXIT_OK, EXIT_SOFTWARE, EXIT_USAGE, unexpectedErrorLine, unknownCommand } from "./cli/io.ts";
import { OutputFailed } from "./errors.ts";

const HELP = [
  "usage: caas <command> [options]",
  "",
  "  serve     serve the oracle and pseudonym APIs over HTTPS",
  "  keys      add, import, list and remove API keys",
  "  secret    create, rotate, list and retire server secret versions",
  "  root-key  create the root key the keyring is wrapped under",
  "  keyring   create, rotate, list, retire and trim keyring keys",
  "  decrypt   open an oracle answer offline",
  "  version   print the version and commit",
  "",
  "Run 'caas <command> --help' or 'caas help <command>' for a command's options.",
  "Exit codes: 0 ok, 2 usage, 70 unexpected error, 74 stdout closed, 75 file locked (try again),",
  "78 configuration error; 'caas <command> --help' lists a command's own.",
].join("\n");

type Command = (args: readonly string[], io: CliIo) => Promise<number>;

async function runVersionCommand(args: readonly string[], io: CliIo): Promise<number> {
  if (args.length > 0 && args[0] !== "--help" && args[0] !== "-h") {
    io.err("caas version: takes no arguments");
    return EXIT_USAGE;
  }
  io.out(
    args.length > 0 ? "usage: caas version\n\nPrints the version, the git commit it was built from and the Bun runtime." : versionLine(),
  );
  return EXIT_OK;
}

/**
 * Each command's module is evaluated only when that command runs: `caas --version` evaluates
 * none, and only serve evaluates the HTTP app (Elysia, the routes' schemas). `bun build
 * --compile` still bundles every one of them into the binary.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  serve: async () => (await import("./cli/serve.ts")).runServeCommand,
  keys: async () => (await import("./cli/keys.ts")).runKeysCommand,
  secret: async () => (await import("./cli/secret.ts")).runSecretCommand,
  "root-key": async () => (await import("./cli/root-key.ts")).runRootKeyCommand,
  keyring: async () => (await import("./cli/keyring.ts")).runKeyringCommand,
  decrypt: async () => (await import("./cli/decrypt.ts")).runDecryptCommand,
  version: async () => runVersionCommand,
};

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  // `caas help CMD [SUB]` is `caas CMD [SUB] --help`, so both ways of asking get the same page.
  const [command, args] = first === "help" ? [rest[0], [...rest.slice(1), "--help"]] : [first, rest];
  // Every write is inside: a closed stdout is exit 74 for the top-level help and --version too.
  try {
    if (first === undefined || first === "--help" || first === "-h") {
      io.out(HELP);
      return first === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (first === "--version" || first === "-V") return await runVersionCommand([], io);
    if (command === undefined || command === "help") {
      io.out(HELP);
      return EXIT_OK;
    }
    const load = COMMANDS[command];
    if (load === undefined) {
      io.err(unknownCommand("caas", command, [...Object.keys(COMMANDS), "help"], " (try 'caas --help')"));
      return EXIT_USAGE;
    }
    return await (await load())(args, io);
  } catch (error) {
    const known = command !== undefined && Object.hasOwn(COMMANDS, command);
    // Loaded only on a failure: its table of codes reaches the HTTP layer's, and so Elysia.
    const { commandFailed } = await import("./cli/exit-codes.ts");
    return commandFailed(io, error, { prefix: known ? `caas ${command}` : "caas" });
  }
}

/**
 * Writes all of `text` to a descriptor synchronously, so the caller knows it arrived (or why
 * not) before going on; process.stdout.write reports a closed pipe later, as a crash.
 */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, "utf8");
  let written = 0;
  let waits = 0;
  while (written < bytes.length) {
    try {
      written += writeSync(fd, bytes, written);
    } catch (error) {
      // A non-blocking descriptor inherited from the parent may be full for a moment.
      if (errnoCodeOf(error) === "EAGAIN" && waits++ < 1000) {
        Bun.sleepSync(1);
        continue;
      }
      throw error;
    }
  }
}

function errnoCodeOf(error: unknown): string {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : "EIO";
}

/** Last resort for what escapes main (a timer, a stream): one line, exit 70, never a stack trace. */
function exitOnUnexpected(error: unknown): never {
  try {
    writeAll(2, `${unexpectedErrorLine("caas", error)}\n`);
  } catch {
    // stderr is gone too; the exit status still tells.
  }
  process.exit(EXIT_SOFTWARE);
}

if (import.meta.main) {
  process.on("uncaughtException", exitOnUnexpected);
  process.on("unhandledRejection", exitOnUnexpected);
  const io: CliIo = {
    out: (line) => {
      try {
        writeAll(1, `${line}\n`);
      } catch (error) {
        throw new OutputFailed(errnoCodeOf(error));
      }
    },
    err: (line) => {
      try {
        writeAll(2, `${line}\n`);
      } catch {
        // Nowhere left to say it; the exit status still tells.
      }
    },
    env: process.env,
  };
  // No top-level await: the bytecode-compiled binary is CommonJS.
  void main(process.argv.slice(2), io).then((code) => {
    process.exitCode = code;
    if (code !== EXIT_OK) process.exit(code);
  }, exitOnUnexpected);
}
