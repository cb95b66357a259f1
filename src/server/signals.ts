/**
 * The process's signals: SIGTERM and SIGINT drain and exit 0, SIGHUP reloads (listener.ts says
 * what each does for a standalone process and for a worker).
 */
import type { Logger } from "../log.ts";
import type { RunningServer } from "./listener.ts";

export function handleSignals(running: RunningServer, logger: Logger): void {
  const stop = (signal: string) => {
    void running.shutdown(signal).then(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {
    logger.info("reload_requested", { signal: "SIGHUP" });
    void running.reload();
  });
}
