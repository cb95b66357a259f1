/**
 * `caas secret`: create and rotate the pseudonym server secret file. Never prints a secret.
 */

import { parseArgs } from "node:util";
import { initSecretFile, rotateSecretFile } from "../credentials/secret-ring.ts";
import { UsageError } from "../errors.ts";
import { commandFailed } from "./exit-codes.ts";
import { type CliIo, EXIT_OK, EXIT_USAGE } from "./io.ts";

const SECRET_FILE_ENV = "CAAS_SECRET_FILE";

const HELP: Readonly<Record<string, string>> = {
  secret: `usage: caas secret <init|rotate> [FILE]

Manage the server secret that keys every pseudonym. FILE defaults to $${SECRET_FILE_ENV}.

  caas secret init FILE     write a new random 256-bit secret (version 1), mode 0600
  caas secret rotate FILE   add a new version; the newest makes pseudonyms, all versions verify

Both take the file's lock (.FILE.lock beside it), so rotations run at once each add their own
version. A symbolic link is followed: the file it points to is the one written. The file and
its directory must belong to you or root and be writable by nobody else.

Exit codes: 0 ok, 2 usage, 75 the file stayed locked by another command for 10 s, 78 file error
(also: a rotation past version 2147483647, or any change the server could not load, is refused).`,
  init: `usage: caas secret init [FILE]

Writes a new random 256-bit secret to FILE with mode 0600. Refuses to overwrite an existing
file: losing a secret makes every pseudonym made under it unverifiable. Point the server at it
with ${SECRET_FILE_ENV}=FILE.`,
  rotate: `usage: caas secret rotate [FILE]

Adds a new secret version to FILE, atomically (a 0600 temporary file renamed over it). New
pseudonyms use the new version once the server restarts or reloads; those made under older versions keep
verifying. Refuses a file that group or others can read. Rotations run at once wait for each
other (up to 10 s) and each adds its own version.`,
};

export async function runSecretCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  if (command === "--help" || command === "-h" || command === "help") {
    io.out(HELP.secret ?? "");
    return EXIT_OK;
  }
  if (command !== "init" && command !== "rotate") {
    io.err(
      command === undefined
        ? "caas secret: missing command (init or rotate); see caas secret --help"
        : "caas secret: unknown command; expected init or rotate",
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
      io.out(HELP[command] ?? "");
      return EXIT_OK;
    }
    if (positionals.length > 1) throw new UsageError("expects one FILE");
    const path = positionals[0] ?? io.env[SECRET_FILE_ENV];
    if (path === undefined || path === "") throw new UsageError(`no secret file: pass FILE or set ${SECRET_FILE_ENV}`);
    if (command === "init") {
      await initSecretFile(path);
      io.out(`wrote a new secret (version 1) to ${path} with mode 0600; start the server with ${SECRET_FILE_ENV}=${path}`);
    } else {
      const ring = await rotateSecretFile(path);
      io.out(
        `added secret version ${ring.newest.version} to ${path}; the server makes pseudonyms with it once it restarts or reloads. ` +
          `Versions ${ring.versions.map((v) => v.version).join(", ")} all verify.`,
      );
    }
    return EXIT_OK;
  } catch (error) {
    return commandFailed(io, `caas secret ${command}`, error, `caas secret ${command} --help`);
  }
}
