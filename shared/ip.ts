/**
 * IP and CIDR math on canonical text and bigints. Parsing is delegated to ipaddr.js; the
 * arithmetic (ranges, counting, next address) is done on bigints so IPv4 and IPv6 share one path.
 */
import ipaddr from 'ipaddr.js';

/** Address family. */
export type Family = 4 | 6;

/** A parsed address: its family, canonical text and numeric value. */
export interface Ip {
  readonly family: Family;
  readonly text: string;
  readonly value: bigint;
}

/** An inclusive range of addresses of one family. */
export interface IpRange {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

/** Parse one address in strict form (no IPv4 shorthand like `10.1`); IPv4-mapped IPv6 stays IPv6. Null if invalid. */
export function parseIp(text: string): Ip | null {
  const t = text.trim();
  const quad = parseDottedQuad(t);
  if (quad !== null) return { family: 4, text: t, value: quad };
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  if (ipaddr.IPv4.isValidFourPartDecimal(t)) addr = ipaddr.IPv4.parse(t);
  else if (t.includes(':') && ipaddr.IPv6.isValid(t) && !t.includes('%')) addr = ipaddr.IPv6.parse(t);
  else return null;
  const family: Family = addr.kind() === 'ipv4' ? 4 : 6;
  const value = bytesToBigInt(addr.toByteArray());
  return { family, text: formatIp(family, value), value };
}

// Status, annotations and pools are mostly IPv4; ipaddr.js costs several microseconds per address,
// which a 10,000-Service reconcile feels. Anything this fast path does not accept falls through to it.
const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

function parseDottedQuad(t: string): bigint | null {
  const m = DOTTED_QUAD.exec(t);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return null;
    v = v * 256 + octet;
  }
  return BigInt(v);
}

/** Canonical text of an address value (RFC 5952 for IPv6). */
export function formatIp(family: Family, value: bigint): string {
  if (family === 4) {
    const v = Number(value & 0xffffffffn);
    return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  }
  const bytes = new Array<number>(16);
  let v = value;
  for (let i = 15; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return (ipaddr.fromByteArray(bytes) as ipaddr.IPv6).toRFC5952String();
}

/** A parsed CIDR; `hostBitsSet` tells whether the text had bits set past the prefix (they are masked off). */
export interface Cidr extends IpRange {
  readonly prefix: number;
  readonly text: string;
  readonly hostBitsSet: boolean;
}

/** Parse `addr/prefix`. Null if invalid. */
export function parseCidr(text: string): Cidr | null {
  const t = text.trim();
  const slash = t.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIp(t.slice(0, slash));
  const prefixText = t.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  const bits = BITS[ip.family];
  if (prefix > bits) return null;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  const first = ip.value & ~hostMask & ((1n << BigInt(bits)) - 1n);
  return {
    family: ip.family,
    first,
    last: first | hostMask,
    prefix,
    text: `${formatIp(ip.family, first)}/${prefix}`,
    hostBitsSet: (ip.value & hostMask) !== 0n,
  };
}

/** Number of addresses in a range. */
export function rangeSize(r: IpRange): bigint {
  return r.last - r.first + 1n;
}

/** Whether `ip` lies in `r`. */
export function rangeContains(r: IpRange, ip: Ip): boolean {
  return r.family === ip.family && ip.value >= r.first && ip.value <= r.last;
}

/** Whether two ranges share at least one address. */
export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

function bytesToBigInt(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** Number of address bits of a family. */
export function familyBits(family: Family): number {
  return BITS[family];
}

/** Parse an inclusive range `a-b` (spaces around the dash allowed); null if either end is invalid. */
export function parseIpRangeText(text: string): { readonly start: Ip; readonly end: Ip } | null {
  const parts = text.split('-');
  if (parts.length !== 2) return null;
  const start = parseIp(parts[0] ?? '');
  const end = parseIp(parts[1] ?? '');
  return start && end ? { start, end } : null;
}

/**
 * Whether an IPv4 address ends in .0 or .255: old firmware treats those as network or broadcast
 * addresses even inside a larger subnet, so pools with `avoidBuggyIPs` never hand them out.
 */
export function isBuggyIPv4(value: bigint): boolean {
  const last = value & 0xffn;
  return last === 0n || last === 0xffn;
}

/** How many addresses of an IPv4 range end in .0 or .255, without enumerating them. */
export function countBuggyIPv4(r: IpRange): bigint {
  if (r.family !== 4) return 0n;
  // Addresses <= x ending in .0 or .255: two per complete /24 below x's /24, plus x's own /24's share.
  const upTo = (x: bigint): bigint => {
    if (x < 0n) return 0n;
    const block = x >> 8n;
    const low = x & 0xffn;
    return block * 2n + 1n + (low === 0xffn ? 1n : 0n);
  };
  return upTo(r.last) - upTo(r.first - 1n);
}

/** Text of an inclusive range: the single address, or `first-last`. */
export function formatRange(r: IpRange): string {
  return r.first === r.last
    ? formatIp(r.family, r.first)
    : `${formatIp(r.family, r.first)}-${formatIp(r.family, r.last)}`;
}
