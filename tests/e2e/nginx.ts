/**
 * nginx in front of caas instances for the suites that need a load balancer (scale-out, fleet):
 * the `stream` block of deploy/nginx-caas-stream.conf (TLS passthrough, round-robin: the client
 * verifies caas's own certificate) with the test's ports, every path in a temporary directory.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { tempDir } from "../../support/test-pki.ts";

const NGINX = "/usr/sbin/nginx";
/** Debian builds the stream module as a dynamic module (package libnginx-mod-stream). */
const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";
const staticStream =
  existsSync(NGINX) && /--with-stream(?!=dynamic)(\s|$)/.test(Bun.spawnSync([NGINX, "-V"], { stderr: "pipe" }).stderr.toString());

/** Whether this machine has nginx with the stream module; a suite skips its balanced tests without. */
export const haveNginx = existsSync(NGINX) && (staticStream || existsSync(STREAM_MODULE));

/** What a suite prints when it skips for want of nginx. */
export const NGINX_MISSING = `needs ${NGINX} with the stream module (apt-get install nginx libnginx-mod-stream; .ci/run installs them)`;

export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** The deploy example's `stream` block, with the test's ports, every path inside `dir`, and each connection's upstream logged. */
export function nginxConfig(dir: string, listen: number, upstreams: readonly number[]): string {
  const example = readFileSync(join(import.meta.dir, "../../deploy/nginx-caas-stream.conf"), "utf8");
  const stream = example.slice(example.indexOf("stream {"));
  if (!stream.startsWith("stream {")) throw new Error("deploy/nginx-caas-stream.conf has no stream block");
  const servers = upstreams.map((port) => `server 127.0.0.1:${port};`).join(" ");
  return [
    staticStream ? "" : `load_module ${STREAM_MODULE};`,
    "daemon off;",
    "master_process on;",
    "worker_processes 1;",
    `pid ${join(dir, "nginx.pid")};`,
    `error_log ${join(dir, "error.log")} info;`,
    "events { worker_connections 1024; }",
    stream
      .replace("stream {", `stream {\n    log_format upstream '$upstream_addr';\n    access_log ${join(dir, "access.log")} upstream;`)
      .replace(/upstream caas \{[^}]*\}/, `upstream caas { ${servers} }`)
      .replace(/listen [^;]+;/, `listen 127.0.0.1:${listen};`),
  ].join("\n");
}

export interface RunningNginx {
  /** https://127.0.0.1:PORT: nginx's listener, which passes each connection to the next upstream. */
  readonly url: string;
  /** One line per closed connection: the upstream (127.0.0.1:PORT) it went to. */
  readonly accessLog: string;
  /** The upstreams that have served a connection so far, as nginx logged them. */
  served(): Set<string>;
  /** nginx's own lines of level error or worse: an upstream that refused or reset a connection, say. */
  errors(): string[];
  stop(): Promise<void>;
}

/** Starts nginx in front of `upstreams` and waits until /healthz answers through it (trusting `ca`). */
export async function startNginx(upstreams: readonly number[], ca: string): Promise<RunningNginx> {
  const dir = tempDir("caas-nginx-");
  const listen = freePort();
  const conf = join(dir, "nginx.conf");
  const errorLog = join(dir, "error.log");
  writeFileSync(conf, nginxConfig(dir, listen, upstreams));
  const test = Bun.spawnSync([NGINX, "-t", "-p", dir, "-e", errorLog, "-c", conf], { stdout: "pipe", stderr: "pipe" });
  if (test.exitCode !== 0) throw new Error(`nginx -t failed: ${test.stderr.toString()}`);
  const nginx: Subprocess<"ignore", "pipe", "pipe"> = Bun.spawn([NGINX, "-p", dir, "-e", errorLog, "-c", conf], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const url = `https://127.0.0.1:${listen}`;
  const accessLog = join(dir, "access.log");
  const stop = async () => {
    if (nginx.exitCode === null) {
      nginx.kill("SIGTERM");
      await nginx.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 5_000;
  for (;;) {
    const up = await fetch(`${url}/healthz`, { tls: { ca } } as RequestInit).then(
      (answer) => answer.ok,
      () => false,
    );
    if (up) break;
    if (nginx.exitCode !== null || Date.now() > deadline) {
      const log = existsSync(errorLog) ? readFileSync(errorLog, "utf8") : "";
      await stop();
      throw new Error(`nginx did not start (exit ${nginx.exitCode}): ${log}`);
    }
    await Bun.sleep(20);
  }
  return {
    url,
    accessLog,
    served: () => new Set(existsSync(accessLog) ? readFileSync(accessLog, "utf8").split("\n").filter(Boolean) : []),
    errors: () =>
      (existsSync(errorLog) ? readFileSync(errorLog, "utf8").split("\n") : []).filter((line) => /\[(error|crit|alert|emerg)\]/.test(line)),
    stop,
  };
}
