/**
 * What caas's own part of a start is made of, compiled as dist/caas is (`bun run bench:startup --
 * --phases`): each group of modules `serve` evaluates, timed as it is first imported, then the app
 * built (createApp) twice: the first build is what a start pays, the second what the same work
 * costs once Bun has compiled its code. Prints one JSON object of milliseconds per phase.
 */
import { performance } from "node:perf_hooks";

async function main(): Promise<void> {
  const phases: Record<string, number> = {};
  let last = performance.now();
  const done = (phase: string) => {
    const now = performance.now();
    phases[phase] = now - last;
    last = now;
  };
  await import("elysia");
  done("Elysia");
  await import("../src/crypto/signing.ts");
  await import("../src/crypto/xaes.ts");
  done("node:crypto and caas's primitives");
  const { CredentialsHolder } = await import("../src/credentials/holder.ts");
  const { ApiKeyStore } = await import("../src/credentials/api-keys.ts");
  const { makeSecretRing, newSecretVersion } = await import("../src/credentials/secret-ring.ts");
  done("the credential stores");
  await import("../src/modules/keyring/index.ts");
  done("the keyring module");
  await import("../src/modules/oracle/index.ts");
  await import("../src/modules/pseudonym/index.ts");
  done("the oracle and pseudonym modules");
  const { createApp } = await import("../src/app.ts");
  const { defaultConfig } = await import("../src/config.ts");
  const { silentLogger } = await import("../src/log.ts");
  done("the rest of the app's modules");
  const deps = () => ({
    logger: silentLogger,
    credentials: new CredentialsHolder({ apiKeys: ApiKeyStore.fromKeys([]), secrets: makeSecretRing([newSecretVersion(1)]) }),
  });
  createApp(defaultConfig(), deps());
  done("createApp, first");
  createApp(defaultConfig(), deps());
  done("createApp, again");
  console.log(JSON.stringify(phases));
}

// Not a top-level await: a bytecode build, as dist/caas is, takes none.
main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
