/**
 * Memory under held bodies: `bun run bench/held-bodies.ts [-- options]`. Starts dist/caas (or
 * --binary), opens --connections TLS connections that each start a POST of a body just under
 * CAAS_MAX_BODY and never finish it, and prints the process's resident memory before, while
 * they are held (and its peak, VmHWM), and after they close. What sizes MemoryHigh=/MemoryMax=
 * in deploy/caas.service. Linux only (reads /proc/<pid>/status).
 *
 *   --connections N   held connections (default 800)
 *   --max-body B      CAAS_MAX_BODY in bytes (default 1048576)
 *   --binary PATH     the executable to measure (default dist/caas), e.g. one built from an earlier commit
 *   --env K=V,...     more environment for it (say CAAS_MAX_BODY_IN_FLIGHT=134217728)
 */
import { readFileSync } from "node:fs";
import { connect, type TLSSocket } from "node:tls";
import { parseArgs } from "node:util";
import { startCaas } from "./harness.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    connections: { type: "string", default: "800" },
    "max-body": { type: "string", default: String(1024 * 1024) },
    binary: { type: "string" },
    env: { type: "string", default: "" },
  },
});
const connections = Number(values.connections);
const maxBody = Number(values["max-body"]);
const extraEnv = Object.fromEntries(
  values.env
    .split(",")
    .filter((pair) => pair.includes("="))
    .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
);

const caas = await startCaas({
  ...(values.binary === undefined ? {} : { binary: values.binary }),
  env: { CAAS_MAX_BODY: String(maxBody), ...extraEnv },
});

function memory(): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${caas.process.pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: Math.round(kib("VmRSS") / 1024), peakMiB: Math.round(kib("VmHWM") / 1024) };
}

async function hold(): Promise<{ socket: TLSSocket; answered: () => boolean }> {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const opened = connect({ host: "127.0.0.1", port: caas.port, rejectUnauthorized: false }, () => resolve(opened));
    opened.once("error", reject);
  });
  let answer = "";
  socket.on("data", (data: Buffer) => (answer += data.toString("latin1")));
  socket.on("error", () => undefined);
  const body = `{"data":"${"x".repeat(maxBody - 1024)}`;
  await new Promise<void>((resolve) =>
    socket.write(
      `POST /oracleinvocation HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${maxBody}\r\n\r\n${body}`,
      () => resolve(),
    ),
  );
  return { socket, answered: () => answer.startsWith("HTTP/1.1 ") };
}

await (await caas.request("/healthz")).text();
const before = memory();
const held: Awaited<ReturnType<typeof hold>>[] = [];
// A few at a time: all at once measures the TLS handshakes more than the bodies.
for (let index = 0; index < connections; index += 50) {
  held.push(...(await Promise.all(Array.from({ length: Math.min(50, connections - index) }, hold))));
}
await Bun.sleep(1_500);
const during = memory();
const healthz = (await caas.request("/healthz")).status;
const busy = held.filter((connection) => connection.answered()).length;
for (const connection of held) connection.socket.destroy();
await Bun.sleep(1_500);
const after = memory();
await caas.stop();

console.log(`${connections} connections, each holding ${maxBody - 1024 + 9} bytes of a ${maxBody}-byte body; ${JSON.stringify(extraEnv)}`);
console.log(`RSS before ${before.rssMiB} MiB, held ${during.rssMiB} MiB (peak ${during.peakMiB} MiB), after close ${after.rssMiB} MiB`);
console.log(`answered while held (503 busy): ${busy} of ${connections}; /healthz meanwhile: ${healthz}`);
