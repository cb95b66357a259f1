/**
 * What a supervisor hands its workers, and what names a load: the handoff survives the pipe
 * whole, line by line, however the bytes are cut; a worker applies every later line in order;
 * the fingerprint is equal for the same files wherever they are, and differs for any change.
 */
import { describe, expect, it } from "bun:test";
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { defaultConfig } from "../../src/config.ts";
import { loadCredentials, readCredentialSources } from "../../src/credentials/holder.ts";
import { buildCredentials, type CredentialSources, fingerprintOf } from "../../src/credentials/sources.ts";
import { createKeyringKey } from "../../src/credentials/keyring-changes.ts";
import { initRootKey } from "../../src/credentials/root-key.ts";
import { initSecretFile, rotateSecretFile } from "../../src/credentials/secret-ring.ts";
import { silentLogger } from "../../src/log.ts";
import type { Handoff } from "../../src/server/handoff.ts";
import { connectToSupervisor, parseHandoff, serializeHandoff } from "../../src/server/supervisor.ts";
import { scratchDirectories } from "./scratch.ts";
import { PLACEHOLDER_TLS } from "../fixtures/placeholder-tls.ts";

const scratch = scratchDirectories("caas-handoff-");

/** TEST FIXTURE: files made by caas's own commands in a fresh directory. */
async function filesIn(dir: string) {
  const paths = { secret: join(dir, "secret.json"), rootKey: join(dir, "root-key"), keyring: join(dir, "keyring.json") };
  await initSecretFile(paths.secret);
  await initRootKey(paths.rootKey);
  await createKeyringKey(paths.keyring, paths.rootKey, { name: "orders" });
  return paths;
}

async function sourcesIn(dir: string): Promise<CredentialSources> {
  const paths = await filesIn(dir);
  const config = defaultConfig({
    secretFile: paths.secret,
    rootKeyFile: paths.rootKey,
    keyringFile: paths.keyring,
    stateDir: join(dir, "state"),
  });
  return readCredentialSources(config, silentLogger);
}

const TLS = PLACEHOLDER_TLS;

/** A stream that delivers `text` cut into the given chunk sizes, then stays open until `close` is called. */
function pipeOf(text: string, sizes: readonly number[]): { stream: ReadableStream<Uint8Array>; close: () => void } {
  const bytes = new TextEncoder().encode(text);
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      let at = 0;
      for (const size of sizes) {
        if (at >= bytes.length) break;
        c.enqueue(bytes.slice(at, at + size));
        at += size;
      }
      if (at < bytes.length) c.enqueue(bytes.slice(at));
    },
  });
  return { stream, close: () => controller?.close() };
}

describe("the handoff", () => {
  it("is one line that parses back to what was sent, and nothing that is not one parses", async () => {
    const handoff: Handoff = { tls: TLS, sources: await sourcesIn(await scratch()) };
    const line = serializeHandoff(handoff);
    expect(line.indexOf("\n")).toBe(line.length - 1);
    expect(parseHandoff(line.slice(0, -1))).toEqual(handoff);
    for (const bad of [line.slice(0, line.length / 2), "{}", JSON.stringify({ tls: TLS }), "null", ""])
      expect(parseHandoff(bad)).toBeUndefined();
  });

  it("reaches a worker whole and in order, the first line as its start and each later one as a reload, however the pipe cuts the bytes", async () => {
    const first: Handoff = { tls: TLS, sources: await sourcesIn(await scratch()) };
    const second: Handoff = { tls: { ...TLS, clientCa: TLS.cert }, sources: await sourcesIn(await scratch()) };
    const text = serializeHandoff(first) + serializeHandoff(second) + serializeHandoff(first);
    for (const sizes of [[text.length], [1, 7, 300, 2], Array.from({ length: 200 }, () => 13)]) {
      const pipe = pipeOf(text, sizes);
      const link = await connectToSupervisor(pipe.stream);
      const later: Handoff[] = [];
      link.onHandoff((handoff) => later.push(handoff));
      pipe.close();
      await link.gone;
      expect(link.handoff).toEqual(first);
      expect(later).toEqual([second, first]);
    }
  });

  it("builds the same credentials as loading the files does", async () => {
    const dir = await scratch();
    const sources = await sourcesIn(dir);
    const built = buildCredentials(sources);
    const config = defaultConfig({
      secretFile: sources.secret.path,
      rootKeyFile: join(dir, "root-key"),
      keyringFile: join(dir, "keyring.json"),
    });
    const loaded = await loadCredentials(config, silentLogger);
    expect(built.secrets.versions).toEqual(loaded.secrets.versions);
    expect(built.keyring.names).toEqual(loaded.keyring.names);
    expect(built.keyring.get("orders")?.info).toEqual(loaded.keyring.get("orders")?.info);
  });
});

describe("the credentials fingerprint", () => {
  it("is equal for copies of the same files in other places, and differs after any change", async () => {
    const here = await scratch();
    const there = await scratch();
    const paths = await filesIn(here);
    await mkdir(there, { recursive: true });
    const copies = { secret: join(there, "s.json"), rootKey: join(there, "rk"), keyring: join(there, "kr.json") };
    for (const [from, to] of [
      [paths.secret, copies.secret],
      [paths.rootKey, copies.rootKey],
      [paths.keyring, copies.keyring],
    ] as const)
      await copyFile(from, to);
    const read = (p: typeof paths) =>
      readCredentialSources(defaultConfig({ secretFile: p.secret, rootKeyFile: p.rootKey, keyringFile: p.keyring }), silentLogger);
    const original = fingerprintOf(await read(paths));
    expect(original).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprintOf(await read(copies))).toBe(original);
    expect(fingerprintOf(await read(paths), ["a certificate"])).not.toBe(original);
    await rotateSecretFile(paths.secret);
    expect(fingerprintOf(await read(paths))).not.toBe(original);
  });
});
