/**
 * `loadBalancerSourceRanges` as a matcher compiled once per table apply. IPv4 clients (the common
 * case, including IPv4-mapped IPv6) are parsed by hand into a 32-bit number and compared against
 * number pairs, so checking a client allocates nothing; IPv6 clients go through the shared parser.
 */
import { parseCidr, parseIp } from '../../shared/ip.ts';

/** Decides whether a client address may connect to a listener. */
export interface SourceMatcher {
  /** Whether `address` (as Node reports a peer: IPv4, IPv6 or IPv4-mapped IPv6) is allowed. */
  allows(address: string): boolean;
}

/** The matcher for an empty allowlist: every client is allowed. */
export const ALLOW_ALL: SourceMatcher = { allows: () => true };

/** Dotted-quad text to an unsigned 32-bit number, or -1 when it is not one. */
export function ipv4ToNumber(text: string, from = 0): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

class CompiledRanges implements SourceMatcher {
  /** IPv4 ranges as [first, last] pairs of unsigned numbers. */
  readonly #v4: Float64Array;
  readonly #v6: { first: bigint; last: bigint }[];

  constructor(cidrs: readonly string[]) {
    const v4: number[] = [];
    this.#v6 = [];
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      // The table parser validated every CIDR; an invalid one here is a broken invariant.
      if (!cidr) throw new Error(`source range ${text} is not a CIDR`);
      if (cidr.family === 4) v4.push(Number(cidr.first), Number(cidr.last));
      else this.#v6.push({ first: cidr.first, last: cidr.last });
    }
    this.#v4 = Float64Array.from(v4);
  }

  allows(address: string): boolean {
    const mapped = address.startsWith('::ffff:');
    const n = ipv4ToNumber(address, mapped ? 7 : 0);
    if (n >= 0) {
      const r = this.#v4;
      for (let i = 0; i < r.length; i += 2) if (n >= r[i]! && n <= r[i + 1]!) return true;
      return false;
    }
    if (this.#v6.length === 0) return false;
    const ip = parseIp(address);
    if (ip?.family !== 6) return false;
    for (const r of this.#v6) if (ip.value >= r.first && ip.value <= r.last) return true;
    return false;
  }
}

/** Compile a listener's source ranges; an empty list allows every client. */
export function compileSourceRanges(cidrs: readonly string[]): SourceMatcher {
  return cidrs.length === 0 ? ALLOW_ALL : new CompiledRanges(cidrs);
}
