// A hand-written Node.js oracle: node:https and node:crypto, nothing else. Parse the JSON body,
// seal its "data" under a fresh AES-256-GCM key, answer the four base64 fields.
// `node bench/peers/node-oracle.mjs CERT KEY` prints "listening <port>" once bound.
import { createCipheriv, randomFillSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:https";

const [certFile, keyFile] = process.argv.slice(2);
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: "TLSv1.3" }, (request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    let text;
    try {
      text = JSON.parse(Buffer.concat(chunks).toString("utf8")).data;
    } catch {
      response.writeHead(400, { "content-type": "application/json" }).end('{"error":"invalid_body"}');
      return;
    }
    const material = randomFillSync(Buffer.alloc(44));
    const key = material.subarray(0, 32);
    const nonce = material.subarray(32);
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    const data = Buffer.concat([cipher.update(String(text), "utf8"), cipher.final()]);
    const body = JSON.stringify({
      data: data.toString("base64"),
      key: key.toString("base64"),
      mac: cipher.getAuthTag().toString("base64"),
      nonce: nonce.toString("base64"),
    });
    response.writeHead(200, { "content-type": "application/json" }).end(body);
  });
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
