/**
 * `caas serve --workers N` as its supervisor ends: workers never outlive it. A supervisor killed
 * with SIGKILL (the OOM killer, `kill -9`, a crashed container runtime) cannot pass anything on,
 * so each worker watches the pipe the supervisor holds open on its stdin, and drains and exits
 * when it closes; the port is then free for the next `caas serve`.
 */
import { describe, expect, it } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { makeTestPki, startCaas } from "./harness.ts";

const pki = makeTestPki();

function workerPids(output: string): number[] {
  return [...output.matchAll(/"event":"listening","pid":(\d+)/g)].map((match) => Number(match[1]));
}

/** Alive and not a zombie waiting for a parent that does not reap it. */
function running(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    return readFileSync(stat, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(50);
  }
  return true;
}

describe("a supervisor killed with SIGKILL", () => {
  it("takes its workers with it within seconds, and a new caas serve gets the port", async () => {
    const supervisor = await startCaas({ pki, env: { CAAS_WORKERS: "2" } });
    let workers: number[] = [];
    try {
      expect(await waitUntil(() => workerPids(supervisor.output()).length === 2, 10_000)).toBe(true);
      workers = workerPids(supervisor.output());
      expect(workers).not.toContain(supervisor.process.pid);
      expect((await supervisor.request("/healthz")).status).toBe(200);

      supervisor.process.kill("SIGKILL");
      await supervisor.process.exited;
      expect(await waitUntil(() => workers.every((pid) => !running(pid)), 5_000)).toBe(true);
      expect(supervisor.output()).toContain('"event":"supervisor_gone"');

      const next = await startCaas({ pki, env: { CAAS_PORT: String(supervisor.port) } });
      try {
        expect(next.port).toBe(supervisor.port);
        expect((await next.request("/healthz")).status).toBe(200);
      } finally {
        expect(await next.stop()).toBe(0);
      }
    } finally {
      // Only when the workers outlived the supervisor (the failure this test is about).
      for (const pid of workers.filter(running)) process.kill(pid, "SIGKILL");
      await supervisor.stop();
    }
  });

  it("still stops its workers in an orderly way on SIGTERM (exit 0, each worker drained)", async () => {
    const supervisor = await startCaas({ pki, env: { CAAS_WORKERS: "2" } });
    expect(await waitUntil(() => workerPids(supervisor.output()).length === 2, 10_000)).toBe(true);
    const workers = workerPids(supervisor.output());
    expect(await supervisor.stop("SIGTERM")).toBe(0);
    expect(workers.every((pid) => !running(pid))).toBe(true);
    expect(supervisor.output().match(/"event":"stopped","pid":\d+,"reason":"SIGTERM"/g)?.length).toBe(3);
    expect(supervisor.output()).not.toContain('"event":"supervisor_gone"');
  });
});
