/**
 * 32-bit hashes for balancing: FNV-1a over text (client addresses, backend identities) and the
 * murmur3 finaliser to spread a combined value. Both are integer math with no allocation.
 */

/** FNV-1a of the UTF-16 code units of `text`, as an unsigned 32-bit integer. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's fmix32: a bijective avalanche of a 32-bit integer. */
export function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of a client address for source hashing; IPv4-mapped IPv6 hashes like the IPv4 address. */
export function clientAddressHash(address: string): number {
  return fnv1a(address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address);
}
