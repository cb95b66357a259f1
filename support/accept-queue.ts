import { readFileSync } from "node:fs";

/**
 * Whether Linux hands the connections waiting in a closing listener's accept queue to another
 * listener on the same port (net.ipv4.tcp_migrate_req=1, Linux 5.14+; deploy/60-caas.conf sets
 * it). Without it, each reload that replaces a listener resets those connections, so the suites
 * that count resets ask this first.
 */
export function migratesAcceptQueue(): boolean {
  try {
    return readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim() === "1";
  } catch {
    return false;
  }
}
