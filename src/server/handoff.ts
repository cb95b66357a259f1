/** What a reload applies, read from every file at once; what a supervisor hands its workers. */
import type { Config } from "../config.ts";
import { readCredentialSources } from "../credentials/holder.ts";
import { type CredentialSources, fingerprintOf, pathsOf } from "../credentials/sources.ts";
import type { Logger } from "../log.ts";
import type { TlsMaterial } from "./tls/material.ts";
import { loadTlsMaterial, type TlsLoadOptions } from "./tls/files.ts";

/**
 * What a process serves from, loaded and checked together: the TLS material and the text of
 * every credential file. A reload builds everything from one of these before it changes
 * anything, so it applies all of it or none; a supervisor hands the same one to every worker.
 */
export interface Handoff {
  readonly tls: TlsMaterial;
  readonly sources: CredentialSources;
}

/** How the TLS material is loaded (tls/files.ts), and what is served now. */
export interface HandoffLoad extends TlsLoadOptions {
  /** What is served now: its ad-hoc certificate is kept, since a new one would only break clients that pinned it. */
  readonly previous?: Handoff;
}

/** Reads every file a reload applies. */
export async function loadHandoff(config: Config, logger: Logger, options: HandoffLoad = {}): Promise<Handoff> {
  const sources = await readCredentialSources(config, logger);
  const tls =
    options.previous !== undefined && config.tlsCert === undefined ? options.previous.tls : await loadTlsMaterial(config, logger, options);
  return { tls, sources };
}

/** The TLS material as the credentials fingerprint counts it. */
export function tlsParts(tls: TlsMaterial): readonly string[] {
  return [tls.cert, tls.key, tls.clientCa ?? ""];
}

export function handoffFingerprint(handoff: Handoff): string {
  return fingerprintOf(handoff.sources, tlsParts(handoff.tls));
}

/** Every file a handoff was read from: what the change watch polls. */
export function watchedPaths(config: Config, handoff: Handoff): readonly string[] {
  const tlsFiles = [config.tlsCert, config.tlsKey, config.tlsClientCa].filter((path): path is string => path !== undefined);
  return [...pathsOf(handoff.sources), ...tlsFiles];
}
