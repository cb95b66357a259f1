/**
 * A service outlives its log reader: when stdout is a pipe whose reader has gone (journald
 * restarted, `caas serve | head`), log lines are lost but requests are still answered and a
 * stop is still clean. Before the logger ignored EPIPE, the next log line ended the process.
 */
import { expect, it } from "bun:test";
import { join } from "node:path";
import { BINARY, makeTestPki, tempDir } from "./harness.ts";

it("keeps serving and stops with exit 0 after its stdout reader is gone", async () => {
  const pki = makeTestPki();
  const cwd = tempDir();
  // The test reads up to the listening line, then cancels its reader: the pipe's only reader is gone.
  // `wait $pid` makes the shell's exit status caas's own.
  const shell = Bun.spawn(["sh", "-c", `"${BINARY}" serve & pid=$!; echo $pid > "${cwd}/pid"; wait $pid`], {
    cwd,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: cwd,
      CAAS_PORT: "0",
      CAAS_OPS_LISTEN: "127.0.0.1:0",
      CAAS_STATE_DIR: join(cwd, "state"),
      CAAS_TLS_CERT: pki.serverCert,
      CAAS_TLS_KEY: pki.serverKey,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = shell.stdout.getReader();
  let firstLines = "";
  while (!firstLines.includes('"event":"listening"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`caas did not start: ${await new Response(shell.stderr).text()}`);
    firstLines += new TextDecoder().decode(value);
  }
  await reader.cancel();
  const port = /"url":"https:\/\/[^"]*:(\d+)"/.exec(firstLines)?.[1];
  expect(port).toBeDefined();
  const pid = Number((await Bun.file(join(cwd, "pid")).text()).trim());

  // SIGHUP logs (reload_requested, reloaded) into the closed pipe; the service must still answer.
  process.kill(pid, "SIGHUP");
  await Bun.sleep(1_500);
  const answer = await fetch(`https://127.0.0.1:${port}/oracleinvocation/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ data: "still here" }),
    tls: { ca: pki.caCertPem },
  } as RequestInit);
  expect(answer.status).toBe(200);

  // SIGTERM logs draining and stopped; the exit status is the service's own.
  process.kill(pid, "SIGTERM");
  expect(await shell.exited).toBe(0);
}, 20_000);
