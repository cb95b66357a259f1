/** `caas decrypt`: open an oracle answer offline (the Flask original's decode_cli.py). */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CaasError } from "../errors.ts";
import { openText } from "../modules/oracle/service.ts";
import { commandFailed, exitStatusOf } from "./exit-codes.ts";
import { EXIT_OK, EXIT_USAGE, type CliIo } from "./io.ts";

export const DECRYPT_HELP = [
  "usage: caas decrypt --key K --nonce N --mac M --data D [--aad A]",
  "",
  "Decrypts what POST /oracleinvocation/ returned (all four values base64, as returned) and",
  "prints the text. Exit codes: 0 ok, 1 authentication failed or bad value, 2 usage.",
  "Arguments are visible to other local users (ps): use this for tests and recovery only.",
].join("\n");

const OPTIONS = {
  key: { type: "string" },
  nonce: { type: "string" },
  mac: { type: "string" },
  data: { type: "string" },
  aad: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

export async function runDecryptCommand(args: readonly string[], io: CliIo): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: OPTIONS,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return commandFailed(io, error, { prefix: "caas decrypt", options: Object.keys(OPTIONS) });
  }
  if (values.help === true) {
    io.out(DECRYPT_HELP);
    return EXIT_OK;
  }
  const { key, nonce, mac, data, aad } = values;
  if (typeof key !== "string" || typeof nonce !== "string" || typeof mac !== "string" || typeof data !== "string") {
    io.err("caas decrypt: --key, --nonce, --mac and --data are all required");
    return EXIT_USAGE;
  }
  try {
    io.out(await openText({ key, nonce, mac, data, ...(typeof aad === "string" ? { aad } : {}) }));
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CaasError) {
      io.err(`caas decrypt: ${error.code}: ${error.message}`);
      return exitStatusOf(error);
    }
    throw error;
  }
}
