/**
 * Retiring a listener, replaced on SIGHUP or stopped on SIGTERM. Bun's stop() closes idle
 * keep-alive connections at once, racing a client's next request on them. So a listener being
 * retired first answers a while longer with "Connection: close", which sends busy keep-alive
 * clients to a new listener or another instance, and only then stops accepting and drains.
 */
import type { Server } from "bun";
import type { FetchHandler } from "./instrument.ts";
import type { TargetRoutes } from "./target-routes.ts";

/** How long a listener replaced on SIGHUP, or stopped on SIGTERM, keeps answering (with "Connection: close") before it stops. */
export const RETIRE_GRACE_MS = 1_000;

/** `answer`, with every response it gives saying "Connection: close". */
export function closingAfter(answer: FetchHandler): FetchHandler {
  return async (request, server) => {
    const response = await answer(request, server);
    response.headers.set("connection", "close");
    return response;
  };
}

export interface Retirement {
  /** What the listener serves during its grace: the same routes, closing each connection after its answer. */
  readonly closing: TargetRoutes;
  /** How long in-flight requests may take once it stops accepting, after which they are cut off. */
  readonly drainTimeoutSeconds: number;
}

/** Resolves once `old` has answered its grace, stopped accepting and drained. */
export async function retireListener(old: Server<undefined>, { closing, drainTimeoutSeconds }: Retirement): Promise<void> {
  old.reload(closing);
  await Bun.sleep(Math.min(RETIRE_GRACE_MS, drainTimeoutSeconds * 1000));
  const deadline = setTimeout(() => void old.stop(true), drainTimeoutSeconds * 1000);
  await old.stop(false);
  clearTimeout(deadline);
}
