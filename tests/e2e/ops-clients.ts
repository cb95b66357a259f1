/**
 * Clients for the operations suites that fetch() cannot be: a raw TLS connection that sends a
 * request at its own pace and reports which certificate the server presented, and the
 * SHA-256 fingerprint of a certificate file in the form node:tls and caas's logs print.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import tls from "node:tls";

/** "AB:CD:…", upper case, as node:tls's fingerprint256 and caas's adhoc_certificate log line. */
export function fingerprintOfPemFile(path: string): string {
  return new X509Certificate(readFileSync(path)).fingerprint256;
}

/** The connection failed before the TLS handshake completed: no request was sent on it. */
export class HandshakeError extends Error {
  constructor(cause: Error) {
    super(`TLS handshake: ${cause.message}`, { cause });
    this.name = "HandshakeError";
  }
}

function connect(port: number, ca: string | undefined): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: "127.0.0.1", port, servername: "localhost", ...(ca === undefined ? { rejectUnauthorized: false } : { ca }) },
      () => resolve(socket),
    );
    socket.once("error", (error) => reject(new HandshakeError(error)));
  });
}

/** The fingerprint of the certificate presented on a new connection; no request is sent. */
export async function presentedFingerprint(port: number): Promise<string> {
  const socket = await connect(port, undefined);
  const fingerprint = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fingerprint;
}

export interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Of the certificate the server presented on this connection. */
  readonly fingerprint: string;
}

export interface RawRequest {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** The body, sent in this many pieces with `pauseMs` between them (a slow client). */
  readonly body?: string;
  readonly pieces?: number;
  readonly pauseMs?: number;
  /** Called once the headers and the first piece of the body are on the wire. */
  readonly onStarted?: () => void;
  /** Trusted CA PEM; without it the certificate is not verified (ad-hoc servers). */
  readonly ca?: string;
}

function parseAnswer(raw: string, fingerprint: string): RawAnswer {
  const headerEnd = raw.indexOf("\r\n\r\n");
  if (headerEnd === -1) throw new Error(`no complete HTTP answer: ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine = "", ...headerLines] = raw.slice(0, headerEnd).split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.slice(headerEnd + 4);
  if (headers["transfer-encoding"] === "chunked") {
    let decoded = "";
    for (let rest = body; ; ) {
      const lineEnd = rest.indexOf("\r\n");
      const size = Number.parseInt(rest.slice(0, lineEnd), 16);
      if (!(size > 0)) break;
      decoded += rest.slice(lineEnd + 2, lineEnd + 2 + size);
      rest = rest.slice(lineEnd + 2 + size + 2);
    }
    body = decoded;
  }
  return { status, headers, body, fingerprint };
}

/** One request on its own new TLS connection (Connection: close), read to the end. */
export async function rawRequest(port: number, request: RawRequest): Promise<RawAnswer> {
  const socket = await connect(port, request.ca);
  const fingerprint = socket.getPeerCertificate().fingerprint256;
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.once("end", resolve);
    socket.once("close", () => resolve());
    socket.once("error", reject);
  });
  const body = Buffer.from(request.body ?? "");
  const head = [
    `${request.method ?? "GET"} ${request.path} HTTP/1.1`,
    "host: localhost",
    "connection: close",
    ...(request.body === undefined ? [] : ["content-type: application/json", `content-length: ${body.length}`]),
    ...Object.entries(request.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
    "",
    "",
  ].join("\r\n");
  socket.write(head);
  const pieces = Math.max(1, request.pieces ?? 1);
  const pieceSize = Math.ceil(body.length / pieces);
  for (let index = 0; index < pieces; index++) {
    socket.write(body.subarray(index * pieceSize, (index + 1) * pieceSize));
    if (index === 0) request.onStarted?.();
    if (index < pieces - 1) await Bun.sleep(request.pauseMs ?? 0);
  }
  await ended;
  return parseAnswer(Buffer.concat(chunks).toString("utf8"), fingerprint);
}
