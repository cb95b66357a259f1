/**
 * Who the client is, by address, behind HTTP proxies the operator names (CAAS_TRUSTED_PROXIES).
 * The peer's address is the client unless the peer is one of them; then X-Forwarded-For is read
 * from its right end, each trusted proxy's entry naming the hop before it, and the first entry
 * that is not a trusted proxy is the client. Entries to its left were written by the client
 * itself and are never believed, nor is the header from any peer that is not listed.
 */
import { type BlockList, isIP } from "node:net";
import { trustedProxyList } from "../addresses.ts";

/** A request's address, or undefined where it has none (app.handle() in tests). */
export type AddressOf = (request: Request) => string | undefined;

/** Hops read from the right of X-Forwarded-For at most: more proxies than this in a row is not a deployment. */
const MAX_HOPS = 32;

/** An X-Forwarded-For entry as an address: trimmed, with the port some proxies add taken off; undefined when it is not one. */
function hopAddress(entry: string): string | undefined {
  const text = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  const candidate = bracketed?.[1] ?? /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text)?.[1] ?? text;
  return isIP(candidate) === 0 ? undefined : candidate;
}

function listed(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  try {
    return list.check(address, family === 4 ? "ipv4" : "ipv6");
  } catch {
    // An address node:net cannot place (a zone id it refuses) is no proxy of ours.
    return false;
  }
}

/**
 * `peer` (the address the listener saw), with X-Forwarded-For believed from the proxies
 * `trustedProxies` lists; `peer` itself when none are listed.
 */
export function clientAddressBehind(trustedProxies: string | undefined, peer: AddressOf): AddressOf {
  if (trustedProxies === undefined) return peer;
  const trusted = trustedProxyList(trustedProxies);
  return (request) => {
    const address = peer(request);
    if (address === undefined || !listed(trusted, address)) return address;
    const forwarded = request.headers.get("x-forwarded-for");
    if (forwarded === null) return address;
    const hops = forwarded.split(",");
    let client = address;
    for (let index = hops.length - 1; index >= Math.max(0, hops.length - MAX_HOPS); index -= 1) {
      const hop = hopAddress(hops[index] ?? "");
      // Not an address: what a trusted proxy handed over ends here, and the last hop known stands.
      if (hop === undefined) break;
      client = hop;
      if (!listed(trusted, hop)) break;
    }
    return client;
  };
}
