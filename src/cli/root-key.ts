/** `caas root-key init FILE`: the 32 random bytes the keyring is wrapped under. Never prints them. */
import { parseArgs } from "node:util";
import { initRootKey } from "../credentials/root-key.ts";
import { UsageError } from "../errors.ts";
import { commandFailed } from "./exit-codes.ts";
import { type CliIo, EXIT_OK, EXIT_USAGE, unknownCommand } from "./io.ts";

const ROOT_KEY_ENV = "CAAS_ROOT_KEY_FILE";

const HELP = `usage: caas root-key init [FILE]

Writes 32 random bytes to FILE (default $${ROOT_KEY_ENV}) with mode 0600, refusing to overwrite
an existing file: every keyring version is wrapped under this key, and without it none opens.
Point the server at it with ${ROOT_KEY_ENV}=FILE, or hand it to systemd sealed:
  systemd-creds encrypt --name=root-key FILE /etc/credstore.encrypted/root-key
  LoadCredentialEncrypted=root-key:/etc/credstore.encrypted/root-key   (in caas.service)

Exit codes: 0 ok, 2 usage, 78 file error (it exists, or its directory is not yours alone).`;

export async function runRootKeyCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  if (command === "--help" || command === "-h" || command === "help") {
    io.out(HELP);
    return EXIT_OK;
  }
  if (command !== "init") {
    io.err(
      command === undefined
        ? "caas root-key: missing command (init); see caas root-key --help"
        : unknownCommand("caas root-key", command, ["init"], "; expected init"),
    );
    return EXIT_USAGE;
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...rest],
      options: { help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      io.out(HELP);
      return EXIT_OK;
    }
    if (positionals.length > 1) throw new UsageError("expects one FILE");
    const path = positionals[0] ?? io.env[ROOT_KEY_ENV];
    if (path === undefined || path === "") throw new UsageError(`no root key file: pass FILE or set ${ROOT_KEY_ENV}`);
    await initRootKey(path);
    io.out(`wrote a new root key (32 random bytes) to ${path} with mode 0600; keep a copy offline: without it no keyring key opens`);
    return EXIT_OK;
  } catch (error) {
    return commandFailed(io, error, { prefix: "caas root-key init", help: "caas root-key --help", options: ["help"] });
  }
}
