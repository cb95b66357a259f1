/** The binary's entry: parse argv, dispatch a command, map errors to exit codes. */
import { versionLine } from "./build-info.ts";
import { ConfigError } from "./config.ts";
import { KeysFileError } from "./auth/api-keys.ts";
import { runDecryptCommand } from "./cli/decrypt.ts";
import { EXIT_CONFIG, EXIT_OK, EXIT_USAGE, type CliIo } from "./cli/io.ts";
import { runKeysCommand } from "./cli/keys.ts";
import { runSecretCommand } from "./cli/secret.ts";
import { runServeCommand } from "./cli/serve.ts";
import { SecretFileError } from "./modules/pseudonym/secrets.ts";

const HELP = [
  "usage: caas <command> [options]",
  "",
  "  serve     serve the oracle and pseudonym APIs over HTTPS",
  "  keys      add, import, list and remove API keys",
  "  secret    create and rotate the server secret",
  "  decrypt   open an oracle answer offline",
  "  version   print the version and commit",
  "",
  "Run 'caas <command> --help' for a command's options.",
  "Exit codes: 0 ok, 2 usage, 78 configuration error.",
].join("\n");

const COMMANDS: Readonly<Record<string, (args: readonly string[], io: CliIo) => Promise<number>>> = {
  serve: runServeCommand,
  keys: runKeysCommand,
  secret: runSecretCommand,
  decrypt: runDecryptCommand,
  version: async (args, io) => {
    if (args.length > 0 && args[0] !== "--help" && args[0] !== "-h") {
      io.err("caas version: takes no arguments");
      return EXIT_USAGE;
    }
    io.out(args.length > 0 ? "usage: caas version\n\nPrints the version, the git commit it was built from and the Bun runtime." : versionLine());
    return EXIT_OK;
  },
};

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    io.out(HELP);
    return command === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (command === "--version" || command === "-V") return COMMANDS.version!([], io);
  const run = COMMANDS[command];
  if (run === undefined) {
    io.err(`caas: unknown command '${command}' (try 'caas --help')`);
    return EXIT_USAGE;
  }
  try {
    return await run(rest, io);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof SecretFileError || error instanceof KeysFileError) {
      io.err(`caas ${command}: ${error.message}`);
      return EXIT_CONFIG;
    }
    throw error;
  }
}

if (import.meta.main) {
  const io: CliIo = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
  };
  // No top-level await: the bytecode-compiled binary is CommonJS.
  void main(process.argv.slice(2), io).then((code) => {
    process.exitCode = code;
    if (code !== EXIT_OK) process.exit(code);
  });
}
