/**
 * PROXY protocol headers (HAProxy's spec, versions 1 and 2) that tell a backend the real client
 * address. The header is built once per connection and written before any client byte. An
 * IPv4-mapped IPv6 client (`::ffff:a.b.c.d`) is sent as IPv4; where client and VIP families still
 * differ, both are sent as IPv6 (the IPv4 one mapped).
 */
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';

/** One end of the proxied connection. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** The 12-byte signature that opens every version 2 header. */
export const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
const V2_PROXY_COMMAND = 0x21;
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;

/** `::ffff:a.b.c.d` becomes `a.b.c.d`; anything else is returned as is. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function sameFamily(client: Endpoint, vip: Endpoint): [Endpoint, Endpoint, 4 | 6] {
  const c = unmapIPv4(client.address);
  const v = unmapIPv4(vip.address);
  const c4 = isIPv4(c);
  const v4 = isIPv4(v);
  if (c4 && v4) return [{ address: c, port: client.port }, { address: v, port: vip.port }, 4];
  const as6 = (a: string, is4: boolean) => (is4 ? `::ffff:${a}` : a);
  return [{ address: as6(c, c4), port: client.port }, { address: as6(v, v4), port: vip.port }, 6];
}

/** Version 1 (text): `PROXY TCP4 <client> <vip> <client port> <vip port>\r\n`. */
export function proxyHeaderV1(client: Endpoint, vip: Endpoint): Buffer {
  const [c, v, family] = sameFamily(client, vip);
  const src = family === 6 ? ipaddr.parse(c.address).toString() : c.address;
  const dst = family === 6 ? ipaddr.parse(v.address).toString() : v.address;
  return Buffer.from(`PROXY TCP${family} ${src} ${dst} ${c.port} ${v.port}\r\n`, 'latin1');
}

/** Version 2 (binary): signature, PROXY command, TCP over IPv4 or IPv6, addresses and ports. */
export function proxyHeaderV2(client: Endpoint, vip: Endpoint): Buffer {
  const [c, v, family] = sameFamily(client, vip);
  const addrLen = family === 4 ? 4 : 16;
  const bodyLen = 2 * addrLen + 4;
  const out = Buffer.alloc(16 + bodyLen);
  V2_SIGNATURE.copy(out, 0);
  out[12] = V2_PROXY_COMMAND;
  out[13] = family === 4 ? V2_TCP4 : V2_TCP6;
  out.writeUInt16BE(bodyLen, 14);
  out.set(ipaddr.parse(c.address).toByteArray(), 16);
  out.set(ipaddr.parse(v.address).toByteArray(), 16 + addrLen);
  out.writeUInt16BE(c.port, 16 + 2 * addrLen);
  out.writeUInt16BE(v.port, 18 + 2 * addrLen);
  return out;
}

/** The header for a listener's `proxyProtocol` setting, or null for `none`. */
export function proxyHeader(version: 'none' | 'v1' | 'v2', client: Endpoint, vip: Endpoint): Buffer | null {
  if (version === 'v1') return proxyHeaderV1(client, vip);
  if (version === 'v2') return proxyHeaderV2(client, vip);
  return null;
}
