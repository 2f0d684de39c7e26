/**
 * Only the Service's ports are reachable on a VIP. In a namespace cluster, node n1 holds the VIP on
 * its interface (as an l2 owner does), applies the nft allowlist (NftVipFirewall) and runs the real
 * speaker for VIP:80, next to "host services" bound to 0.0.0.0 (sshd, the kubelet, kube-proxy's
 * health port, a NodePort, the speaker's metrics port). A TCP connect scan of VIP ports 1-1024 and
 * of every host-service port, from the client namespace, must find exactly port 80 open; the same
 * scan without the allowlist shows what it closes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import { NftVipFirewall } from '../../speaker/announce/vip-firewall.ts';
import { NetnsCluster } from '../harness/netns.ts';
import { within } from '../speaker/loopback.ts';
import { report } from './scale.ts';
import { NODE } from './speaker-process.ts';

const VIP = '198.18.0.100';
const SERVICE_PORT = 80;
/** Ports a node typically serves on every address: sshd, alt ssh, kubelet, kube-proxy health, a NodePort, metrics. */
const HOST_PORTS = [22, 2222, 10250, 10256, 30080, 9470];
const SCAN_PORTS = [...new Set([...Array.from({ length: 1024 }, (_, i) => i + 1), ...HOST_PORTS])];
const BIN = resolve(import.meta.dirname, '../../bin/switchyard.mjs');

/** A connect scan run inside the client namespace: parallel, 400 ms per port; prints JSON. */
const SCAN = `
const net = require('node:net');
const [host, list] = [process.argv[1], JSON.parse(process.argv[2])];
const out = { open: [], refused: 0, timeout: 0, other: 0 };
let next = 0;
function one() {
  if (next >= list.length) return Promise.resolve();
  const port = list[next++];
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (k) => { clearTimeout(t); s.destroy(); if (k === 'open') out.open.push(port); else out[k]++; resolve(); };
    const t = setTimeout(() => done('timeout'), 400);
    s.on('connect', () => done('open'));
    s.on('error', (e) => done(e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' ? 'refused' : 'other'));
  }).then(one);
}
Promise.all(Array.from({ length: 128 }, one)).then(() => {
  out.open.sort((a, b) => a - b);
  console.log(JSON.stringify(out));
});`;

interface ScanResult {
  open: number[];
  refused: number;
  timeout: number;
  other: number;
}

describe('a VIP exposes exactly the Service port (namespace cluster, nft allowlist, real speaker)', {
  timeout: 120_000,
}, () => {
  let cluster: NetnsCluster;
  let dir: string;
  let firewall: NftVipFirewall;

  const scan = async (): Promise<ScanResult> => {
    const r = await cluster.runner('client', 30_000)(NODE, ['-e', SCAN, VIP, JSON.stringify(SCAN_PORTS)]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as ScanResult;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-scan-'));
    cluster = await NetnsCluster.create(['client', 'n1']);
    const n1 = cluster.host('n1');
    await cluster.runner('n1')('ip', ['addr', 'add', `${VIP}/32`, 'dev', 'eth0']);
    // Host services on every address, and the NodePort backend behind the Service.
    const host = cluster.spawn('n1', NODE, [
      '-e',
      `const net = require('node:net');
       const ports = ${JSON.stringify(HOST_PORTS)};
       let n = ports.length;
       for (const p of ports) net.createServer((s) => { s.on('error', () => {}); s.end('host ' + p); }).listen(p, '0.0.0.0', () => { if (--n === 0) console.log('up'); });`,
    ]);
    await within(10_000, 'host services', once(host.stdout!, 'data'));
    const tablePath = join(dir, 'table.json');
    await writeFile(
      tablePath,
      JSON.stringify({
        version: 1,
        listeners: [
          {
            service: 'default/web',
            vip: VIP,
            port: SERVICE_PORT,
            healthCheck: { type: 'tcp' },
            backends: [{ node: 'n1', address: n1.address, nodePort: 30080 }],
          },
        ],
      }),
    );
    const speaker = cluster.spawn('n1', NODE, [
      BIN,
      'speaker',
      '--table',
      tablePath,
      '--workers',
      '0',
      '--metrics-address',
      '127.0.0.1:0',
    ]);
    let out = '';
    await within(
      30_000,
      'the speaker to start',
      new Promise<void>((res) => {
        speaker.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('"speaker-started"')) res();
        });
      }),
    );
    firewall = new NftVipFirewall({ run: cluster.runner('n1'), logger: silentLogger() });
  });

  after(async () => {
    await cluster?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('without the allowlist, the scan finds the host services through the VIP (what the allowlist closes)', async () => {
    const r = await scan();
    report('vip-port-scan-without-allowlist', {
      scanned: SCAN_PORTS.length,
      open: r.open.join('|'),
      refused: r.refused,
      timeout: r.timeout,
    });
    assert.deepEqual(
      r.open,
      [...HOST_PORTS, SERVICE_PORT].sort((a, b) => a - b),
    );
  });

  it(`with the allowlist, a connect scan of ${SCAN_PORTS.length} ports finds exactly port ${SERVICE_PORT}, proxied to the Service`, async () => {
    await firewall.apply([{ vip: VIP, port: SERVICE_PORT }]);
    const r = await scan();
    report('vip-port-scan-with-allowlist', {
      scanned: SCAN_PORTS.length,
      open: r.open.join('|'),
      refused: r.refused,
      timeout: r.timeout,
      other: r.other,
    });
    assert.deepEqual(r.open, [SERVICE_PORT]);
    assert.equal(r.timeout, 0, 'closed ports answer with a reset at once, not silence');
    // And the open port is the Service, through the speaker, not something else on the node.
    const got = await cluster.runner('client', 10_000)(NODE, [
      '-e',
      `const s = require('node:net').connect(${SERVICE_PORT}, '${VIP}'); let d = ''; s.on('data', (x) => d += x); s.on('close', () => console.log(d)); s.on('error', () => {});`,
    ]);
    assert.equal(got.stdout.trim(), 'host 30080');
  });
});
