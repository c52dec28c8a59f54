// A relay's address as people and files write it: "HOST:PORT", an IPv6 address in brackets
// ("[::1]:7878"), as in invites (docs/protocol.md §2.7). The one rule for formatting and parsing
// it, used by the terminal client (--relay, state.json's room list), the extension (settings,
// RoomEntry.relay) and invites. Plain TypeScript: the IP address checks are Node's own
// (lib/internal/net.js, isIPv4/isIPv6), copied here because src/core may not import node:net
// (eslint.config.mjs); test/unit/hostPort.test.ts compares them with node:net.

export interface HostPort {
  /** A host name or IP address; an IPv6 address without brackets. */
  host: string;
  port: number;
}

// Node's regular expressions, as in lib/internal/net.js (v20 to v24).
const V4_SEG = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const V4_STR = `(?:${V4_SEG}\\.){3}${V4_SEG}`;
const IPV4 = new RegExp(`^${V4_STR}$`);
const V6_SEG = '(?:[0-9a-fA-F]{1,4})';
const IPV6 = new RegExp('^(?:' +
  `(?:${V6_SEG}:){7}(?:${V6_SEG}|:)|` +
  `(?:${V6_SEG}:){6}(?:${V4_STR}|:${V6_SEG}|:)|` +
  `(?:${V6_SEG}:){5}(?::${V4_STR}|(?::${V6_SEG}){1,2}|:)|` +
  `(?:${V6_SEG}:){4}(?:(?::${V6_SEG}){0,1}:${V4_STR}|(?::${V6_SEG}){1,3}|:)|` +
  `(?:${V6_SEG}:){3}(?:(?::${V6_SEG}){0,2}:${V4_STR}|(?::${V6_SEG}){1,4}|:)|` +
  `(?:${V6_SEG}:){2}(?:(?::${V6_SEG}){0,3}:${V4_STR}|(?::${V6_SEG}){1,5}|:)|` +
  `(?:${V6_SEG}:){1}(?:(?::${V6_SEG}){0,4}:${V4_STR}|(?::${V6_SEG}){1,6}|:)|` +
  `(?::(?:(?::${V6_SEG}){0,5}:${V4_STR}|(?::${V6_SEG}){1,7}|:))` +
  ')(?:%[0-9a-zA-Z-.:]{1,})?$');

/** A DNS name of RFC 1123 labels (letters, digits, inner hyphens), at most 253 characters. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** A host outside brackets in "HOST:PORT": anything without a colon, a bracket or a space. */
const UNBRACKETED_HOST = /^[^:[\]\s]+$/;
const PORT_DIGITS = /^[0-9]{1,5}$/;

/** Whether `s` is a dotted-quad IPv4 address, exactly as node:net's isIPv4. */
export function isIPv4(s: string): boolean {
  return IPV4.test(s);
}

/** Whether `s` is an IPv6 address (a zone "%eth0" allowed), exactly as node:net's isIPv6. */
export function isIPv6(s: string): boolean {
  return IPV6.test(s);
}

/** Whether `s` is a DNS host name (what an invite accepts besides an IP address). */
export function isHostName(s: string): boolean {
  return HOST_NAME.test(s);
}

/** A TCP port a relay can listen on and a client connect to: an integer from 1 to 65535. */
export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65_535;
}

/** "host:port", or "[v6]:port" for an IPv6 address (any host with a colon). */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Parses what formatHostPort writes, surrounding whitespace ignored: "HOST:PORT" with a HOST
 * without colons, brackets or spaces, or "[IPV6]:PORT"; PORT 1-65535. Undefined otherwise; the
 * caller says what was expected, in its own words (a flag, a setting).
 */
export function parseHostPort(text: string): HostPort | undefined {
  const s = text.trim();
  const colon = s.lastIndexOf(':');
  if (colon < 0) return undefined;
  const hostPart = s.slice(0, colon);
  const portPart = s.slice(colon + 1);
  if (!PORT_DIGITS.test(portPart)) return undefined;
  const port = Number(portPart);
  if (!isPort(port)) return undefined;
  if (hostPart.startsWith('[') && hostPart.endsWith(']')) {
    const host = hostPart.slice(1, -1);
    return isIPv6(host) ? { host, port } : undefined;
  }
  return UNBRACKETED_HOST.test(hostPart) ? { host: hostPart, port } : undefined;
}
