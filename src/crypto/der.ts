/**
 * DER (X.690), as much of it as caas writes: a tag, its length, its contents. The ad-hoc TLS
 * certificate is built from it, and ECDSA signatures asked for in OpenSSL's form.
 */

/** One DER element: `tag`, the definite length of `contents` (short or long form), then `contents` in order. */
export function der(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const length = contents.reduce((sum, part) => sum + part.length, 0);
  const lengthBytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) lengthBytes.unshift(rest & 0xff);
  const header = length < 0x80 ? [tag, length] : [tag, 0x80 | lengthBytes.length, ...lengthBytes];
  const out = new Uint8Array(header.length + length);
  out.set(header);
  let at = header.length;
  for (const part of contents) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export const sequence = (...items: Uint8Array[]): Uint8Array => der(0x30, ...items);

/** A non-negative big-endian integer as a DER INTEGER: no leading zeros, one added where the top bit is set. */
export function unsignedInteger(bigEndian: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bigEndian.length - 1 && bigEndian[start] === 0) start++;
  const magnitude = bigEndian.subarray(start);
  return ((magnitude[0] ?? 0) & 0x80) === 0 ? der(0x02, magnitude) : der(0x02, Uint8Array.of(0), magnitude);
}
