import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { proxyHeaderV1, proxyHeaderV2 } from '../../speaker/forward/proxy-protocol.ts';
import { type ForwarderFixture, startForwarder } from './forwarder-fixture.ts';
import {
  type Backend,
  connectClient,
  freePort,
  listenerDoc,
  loopbackAddress,
  startBackend,
  table,
  within,
} from './loopback.ts';

/** What a PROXY header says, as this test's own parser reads it. */
interface Parsed {
  version: 1 | 2;
  family: 'TCP4' | 'TCP6';
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** Bytes after the header. */
  rest: Buffer;
}

const SIG = [13, 10, 13, 10, 0, 13, 10, 81, 85, 73, 84, 10];

/** IPv6 bytes as eight lowercase hex groups, uncompressed. */
function groups(b: Buffer): string {
  const out: string[] = [];
  for (let i = 0; i < 16; i += 2) out.push(b.readUInt16BE(i).toString(16));
  return out.join(':');
}

/** An independent reading of HAProxy's PROXY protocol spec (v1 text, v2 binary; TCP only). */
function parseProxy(data: Buffer): Parsed {
  if (data.subarray(0, 6).toString('latin1') === 'PROXY ') {
    const end = data.indexOf('\r\n');
    assert.ok(end > 0 && end <= 105, 'v1 header ends with CRLF within 107 bytes');
    const f = data.subarray(0, end).toString('latin1').split(' ');
    assert.equal(f.length, 6, `v1 header has 6 fields: ${f.join(' ')}`);
    return {
      version: 1,
      family: f[1] as 'TCP4' | 'TCP6',
      src: f[2]!,
      dst: f[3]!,
      srcPort: Number(f[4]),
      dstPort: Number(f[5]),
      rest: data.subarray(end + 2),
    };
  }
  assert.deepEqual([...data.subarray(0, 12)], SIG, 'v2 signature');
  assert.equal(data[12], 0x21, 'version 2, command PROXY');
  const len = data.readUInt16BE(14);
  const body = data.subarray(16, 16 + len);
  if (data[13] === 0x11) {
    assert.equal(len, 12);
    return {
      version: 2,
      family: 'TCP4',
      src: [...body.subarray(0, 4)].join('.'),
      dst: [...body.subarray(4, 8)].join('.'),
      srcPort: body.readUInt16BE(8),
      dstPort: body.readUInt16BE(10),
      rest: data.subarray(16 + len),
    };
  }
  assert.equal(data[13], 0x21, 'TCP over IPv6');
  assert.equal(len, 36);
  return {
    version: 2,
    family: 'TCP6',
    src: groups(body.subarray(0, 16)),
    dst: groups(body.subarray(16, 32)),
    srcPort: body.readUInt16BE(32),
    dstPort: body.readUInt16BE(34),
    rest: data.subarray(16 + len),
  };
}

describe('PROXY protocol headers', () => {
  it('sends an IPv4-mapped IPv6 client as TCP4 in v1 and v2', () => {
    const client = { address: '::ffff:203.0.113.7', port: 40000 };
    const vip = { address: '192.0.2.10', port: 443 };
    for (const h of [proxyHeaderV1(client, vip), proxyHeaderV2(client, vip)]) {
      const p = parseProxy(Buffer.concat([h, Buffer.from('x')]));
      assert.equal(p.family, 'TCP4');
      assert.equal(p.src, '203.0.113.7');
      assert.equal(p.dst, '192.0.2.10');
      assert.equal(p.srcPort, 40000);
      assert.equal(p.dstPort, 443);
      assert.equal(p.rest.toString(), 'x');
    }
  });

  it('maps the IPv4 side to IPv6 when client and VIP families differ', () => {
    const p = parseProxy(
      proxyHeaderV2({ address: '2001:db8::7', port: 1 }, { address: '192.0.2.10', port: 2 }),
    );
    assert.equal(p.family, 'TCP6');
    assert.equal(p.src, '2001:db8:0:0:0:0:0:7');
    assert.equal(p.dst, '0:0:0:0:0:ffff:c000:20a');
  });
});

describe('PROXY protocol on the wire', () => {
  let backend: Backend;
  let backend6: Backend;
  const received: Buffer[] = [];
  let nextReceived: ((b: Buffer) => void) | null = null;
  const record = (s: Socket) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      const all = Buffer.concat(chunks);
      received.push(all);
      nextReceived?.(all);
      s.end();
    });
  };
  const fixtures: ForwarderFixture[] = [];

  before(async () => {
    backend = await startBackend({ onSocket: record });
    backend6 = await startBackend({ address: '::1', onSocket: record });
  });
  after(async () => {
    for (const f of fixtures) await f.close();
    await backend.close();
    await backend6.close();
  });

  /** Serve one listener with `version`, connect, send a payload; what did the backend get? */
  async function through(
    version: 'v1' | 'v2',
    family: 4 | 6,
  ): Promise<{ parsed: Parsed; client: Socket; vip: string; port: number }> {
    const vip = family === 4 ? loopbackAddress() : '::1';
    const port = await freePort(vip);
    const b = family === 4 ? backend : backend6;
    fixtures.push(
      await startForwarder(
        table([
          listenerDoc({
            vip,
            port,
            proxyProtocol: version,
            backends: [{ address: b.address, nodePort: b.port }],
          }),
        ]),
      ),
    );
    const got = new Promise<Buffer>((resolve) => {
      nextReceived = resolve;
    });
    const client = await connectClient(vip, port);
    client.end('payload');
    const data = await within(5000, 'backend to receive header and payload', got);
    return { parsed: parseProxy(data), client, vip, port };
  }

  for (const version of ['v1', 'v2'] as const) {
    it(`writes a ${version} TCP4 header with the real client before any client byte`, {
      timeout: 10_000,
    }, async () => {
      const { parsed, client, vip, port } = await through(version, 4);
      assert.equal(parsed.version, version === 'v1' ? 1 : 2);
      assert.equal(parsed.family, 'TCP4');
      assert.equal(parsed.src, client.localAddress);
      assert.equal(parsed.srcPort, client.localPort);
      assert.equal(parsed.dst, vip);
      assert.equal(parsed.dstPort, port);
      assert.equal(parsed.rest.toString(), 'payload');
      client.destroy();
    });

    it(`writes a ${version} TCP6 header for a client on ::1`, { timeout: 10_000 }, async () => {
      const { parsed, client, port } = await through(version, 6);
      assert.equal(parsed.family, 'TCP6');
      const one = version === 'v1' ? '::1' : '0:0:0:0:0:0:0:1';
      assert.equal(parsed.src, one);
      assert.equal(parsed.dst, one);
      assert.equal(parsed.srcPort, client.localPort);
      assert.equal(parsed.dstPort, port);
      assert.equal(parsed.rest.toString(), 'payload');
      client.destroy();
    });
  }
});
