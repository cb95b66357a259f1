/**
 * The network addresses settings hold: CAAS_OPS_LISTEN's host:port, CAAS_TRUSTED_PROXIES'
 * addresses and CIDRs, and what counts as loopback. Each throws a ConfigError naming what it
 * cannot read; config.ts says it again under the setting's name.
 */
import { BlockList, isIP } from "node:net";
import { ConfigError } from "./errors.ts";

/** Where the ops listener binds: a host (or [IPv6]) and a port, split from CAAS_OPS_LISTEN's `host:port`. */
export interface OpsAddress {
  readonly hostname: string;
  readonly port: number;
}

/** CAAS_OPS_LISTEN as an address, or undefined when it is `off`. */
export function opsAddress(value: string): OpsAddress | undefined {
  if (value === "off") return undefined;
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (match?.[1] === undefined || !(port <= 65535)) throw new ConfigError(`'${value}' is not host:port or off`);
  return { hostname: match[1].replace(/^\[(.*)\]$/, "$1"), port };
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/**
 * Whether a listener's host is loopback only (127.0.0.0/8, ::1, localhost). Any other name may
 * resolve to an address the network reaches, so it counts as remote.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === "localhost") return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? "ipv4" : "ipv6");
}

/**
 * CAAS_TRUSTED_PROXIES as the set of addresses it names: comma-separated addresses and CIDRs
 * (`10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1`). Throws a ConfigError naming the entry that is neither.
 */
export function trustedProxyList(text: string): BlockList {
  const list = new BlockList();
  for (const entry of text.split(",").map((part) => part.trim())) {
    const [address = "", prefix, ...rest] = entry.split("/");
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const length = prefix === undefined ? bits : /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
    if (family === 0 || rest.length > 0 || !(length <= bits)) {
      throw new ConfigError(`'${entry}' is not an IP address or CIDR (10.0.0.0/8, 2001:db8::/32)`);
    }
    list.addSubnet(address, length, family === 4 ? "ipv4" : "ipv6");
  }
  return list;
}
