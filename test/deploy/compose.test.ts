/**
 * docker-compose.yml cannot be run here (no container engine), so these tests pin what would make it
 * fail at run time: addresses that collide or leave the network, Nodes that point at no backend,
 * speakers named after no Node, flags the CLI refuses, a client aimed at no VIP.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type IpRange, parseCidr, parseIp, rangeContains, rangesOverlap } from '../../shared/ip.ts';
import { AGREED_FLAGS, commandLine } from './cli-flags.ts';
import { at, isRecord, type KubeObject, kubeObjects, parseYamlFile } from './repo-files.ts';

type Service = Record<string, unknown>;
const compose = parseYamlFile('docker-compose.yml')[0]!.value;
const services = at(compose, 'services') as Record<string, Service>;
const cluster = kubeObjects('examples/compose/cluster.yaml');
const prometheus = parseYamlFile('examples/compose/prometheus.yml')[0]!.value;

const ipam = (at(compose, 'networks.switchyard.ipam.config') as KubeObject[])[0]!;
const subnet = parseCidr(String(ipam['subnet']))!;
const dynamic = parseCidr(String(ipam['ip_range']))!;
const gateway = parseIp(String(ipam['gateway']))!;

function staticAddress(svc: Service): string | undefined {
  const v = at(svc, 'networks.switchyard.ipv4_address');
  return v === undefined ? undefined : String(v);
}

function byPrefix(prefix: string): [string, Service][] {
  return Object.entries(services).filter(([name]) => name.startsWith(prefix));
}

/** A pool's `addresses` entry (CIDR or `a-b`) as a range. */
function poolRange(text: string): IpRange {
  const cidr = parseCidr(text);
  if (cidr) return cidr;
  const [a, b] = text.split('-').map((s) => parseIp(s)!);
  assert.ok(a && b && a.family === b.family, `bad range ${text}`);
  return { family: a.family, first: a.value, last: b.value };
}

const pool = cluster.find((o) => o['kind'] === 'IPAddressPool')!;
const poolRanges = (at(pool, 'spec.addresses') as string[]).map(poolRange);
const nodes = cluster.filter((o) => o['kind'] === 'Node');
const lbServices = cluster.filter((o) => o['kind'] === 'Service' && at(o, 'spec.type') === 'LoadBalancer');

function internalIp(node: KubeObject): string {
  const addrs = at(node, 'status.addresses') as KubeObject[];
  return String(addrs.find((a) => a['type'] === 'InternalIP')!['address']);
}

function annotation(o: KubeObject, key: string): string | undefined {
  const a = at(o, 'metadata.annotations');
  return isRecord(a) && typeof a[key] === 'string' ? a[key] : undefined;
}

function flagValue(command: unknown, flag: string): string | undefined {
  const arg = (command as string[]).find((a) => a.startsWith(`--${flag}=`));
  return arg?.slice(flag.length + 3);
}

describe('docker-compose.yml addresses', () => {
  it('gives every fixed address once, inside the subnet, outside the dynamic range and the gateway', () => {
    const seen = new Set<string>();
    for (const [name, svc] of Object.entries(services)) {
      const text = staticAddress(svc);
      if (text === undefined) continue;
      const ip = parseIp(text);
      assert.ok(ip && rangeContains(subnet, ip), `${name}: ${text} outside ${subnet.text}`);
      assert.ok(!rangeContains(dynamic, ip), `${name}: ${text} inside the dynamic range`);
      assert.notEqual(ip.value, gateway.value, `${name} has the gateway address`);
      assert.ok(!seen.has(ip.text), `${name}: ${text} is used twice`);
      seen.add(ip.text);
    }
    assert.ok(rangeContains(subnet, gateway));
    assert.ok(dynamic.first >= subnet.first && dynamic.last <= subnet.last, 'ip_range inside the subnet');
  });

  it('takes the VIP pool from the subnet, clear of every container address', () => {
    for (const r of poolRanges) {
      assert.ok(r.first >= subnet.first && r.last <= subnet.last, 'pool inside the subnet');
      assert.ok(!rangesOverlap(r, dynamic), 'pool clear of the dynamic range');
      for (const [name, svc] of Object.entries(services)) {
        const ip = staticAddress(svc);
        if (ip) assert.ok(!rangeContains(r, parseIp(ip)!), `${name} sits in the pool`);
      }
      assert.ok(!rangeContains(r, gateway), 'pool clear of the gateway');
    }
  });

  it('pins each LoadBalancer Service to a VIP inside the pool', () => {
    assert.ok(lbServices.length >= 1);
    for (const s of lbServices) {
      const vip = parseIp(annotation(s, 'switchyard.io/loadBalancerIPs') ?? '');
      assert.ok(
        vip && poolRanges.some((r) => rangeContains(r, vip)),
        `${at(s, 'metadata.name')}: VIP in pool`,
      );
    }
  });
});

describe('docker-compose.yml nodes, speakers and backends', () => {
  it('has three backends whose addresses and names are the Nodes of the manifest', () => {
    const backends = byPrefix('backend-');
    assert.equal(backends.length, 3);
    const fromCompose = backends
      .map(([, b]) => `${at(b, 'environment.NODE_NAME')} ${staticAddress(b)}`)
      .sort();
    const fromManifest = nodes.map((n) => `${at(n, 'metadata.name')} ${internalIp(n)}`).sort();
    assert.deepEqual(fromCompose, fromManifest);
  });

  it("serves every LoadBalancer Service's NodePorts on every backend", () => {
    for (const [name, b] of byPrefix('backend-')) {
      const ports = String(at(b, 'environment.PORTS')).split(',').map(Number);
      for (const s of lbServices)
        for (const p of at(s, 'spec.ports') as KubeObject[])
          assert.ok(ports.includes(Number(p['nodePort'])), `${name} lacks NodePort ${p['nodePort']}`);
    }
  });

  it('runs three l2 speakers on eth0 as root with NET_ADMIN and NET_RAW, one per Node', () => {
    const speakers = byPrefix('speaker-');
    assert.equal(speakers.length, 3);
    const names = speakers.map(([, s]) => flagValue(s['command'], 'node-name')).sort();
    assert.deepEqual(names, nodes.map((n) => String(at(n, 'metadata.name'))).sort());
    for (const [name, s] of speakers) {
      assert.equal(flagValue(s['command'], 'announce'), 'l2', name);
      assert.equal(flagValue(s['command'], 'interface'), 'eth0', name);
      assert.equal(s['user'], '0', `${name} runs as root for its capabilities`);
      assert.deepEqual(s['cap_drop'], ['ALL']);
      for (const cap of ['NET_ADMIN', 'NET_RAW'])
        assert.ok((s['cap_add'] as string[]).includes(cap), `${name}: ${cap}`);
    }
  });

  it('passes only agreed flags to switchyard', () => {
    let checked = 0;
    for (const [name, svc] of Object.entries(services)) {
      if (svc['entrypoint'] !== undefined || svc['image'] !== 'switchyard:local') continue;
      checked++;
      const { command, flags } = commandLine(svc['command'] as unknown[]);
      const agreed = AGREED_FLAGS[command];
      assert.ok(agreed, `${name}: unknown subcommand ${command}`);
      for (const f of flags) assert.ok(agreed.includes(f), `${name}: --${f} is not a ${command} flag`);
    }
    assert.equal(checked, 4, 'the controller and three speakers');
  });

  it('runs each demo script under tini from a file mounted at the path the entrypoint names', () => {
    const overridden = Object.entries(services).filter(([, svc]) => svc['entrypoint'] !== undefined);
    assert.ok(overridden.length >= 4, 'three backends and the client');
    for (const [name, svc] of overridden) {
      const argv = svc['entrypoint'] as string[];
      assert.deepEqual(argv.slice(0, 3), ['/usr/bin/tini', '--', 'node'], `${name} runs node under tini`);
      const targets = (svc['volumes'] as string[]).map((v) => v.split(':')[1]);
      assert.ok(targets.includes(argv[3]), `${name}: ${argv[3]} is mounted`);
    }
  });

  it('aims the client at a Service VIP and port', () => {
    const target = new URL(String(at(services['client'], 'environment.TARGET')));
    const port = target.port === '' ? 80 : Number(target.port);
    const hit = lbServices.some(
      (s) =>
        annotation(s, 'switchyard.io/loadBalancerIPs') === target.hostname &&
        (at(s, 'spec.ports') as KubeObject[]).some((p) => p['port'] === port),
    );
    assert.ok(hit, `${target.href} is no Service's VIP:port`);
  });

  it('has Prometheus scrape each speaker and the controller on their metrics ports', () => {
    const targets = (at(prometheus, 'scrape_configs') as KubeObject[])
      .flatMap((j) => (j['static_configs'] as KubeObject[]).flatMap((c) => c['targets'] as string[]))
      .sort();
    const expected = Object.entries(services)
      .filter(([name]) => name === 'controller' || name.startsWith('speaker-'))
      .map(([name, s]) => `${name}:${flagValue(s['command'], 'metrics-address')!.split(':')[1]}`)
      .sort();
    assert.deepEqual(targets, expected);
  });
});
